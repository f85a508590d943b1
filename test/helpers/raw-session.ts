import { ClientSession } from '../../protocol/client-session.js';
import { decodeSid } from '../../protocol/session-id.js';
import { decodeInner, encodeInner } from '../../protocol/stream/inner-frame.js';
import { encodeHello } from '../../protocol/stream/heads.js';
import { InnerKind, STREAM_DEFAULTS } from '../../protocol/stream/stream-codes.js';
import { closeSocket, messageBytes, openRelaySocket } from '../../node/relay-socket.js';
import type { RegisteredTestDaemon, RelayFixture } from './relay-fixture.js';

/**
 * An SBRP client session that speaks the inner protocol by hand: `send` puts any bytes in one
 * Data frame, `frames` collects what the daemon answered (decoded inner frames). For tests of
 * how a daemon treats malformed or abusive peers.
 */
export interface RawSession {
  session: ClientSession;
  frames: ReturnType<typeof decodeInner>[];
  readonly closed: boolean;
  send(bytes: Uint8Array): void;
  close(): Promise<void>;
}

export async function openRawSession(fx: RelayFixture, reg: RegisteredTestDaemon, options: { hello?: boolean } = {}): Promise<RawSession> {
  const { token, sid } = await fx.controlPlane.sessionToken(reg.apiKey, reg.daemonId);
  const ws = await openRelaySocket(fx.relay.wsUrl, token);
  const frames: ReturnType<typeof decodeInner>[] = [];
  let closed = false;
  let opened!: () => void;
  let failed!: (error: Error) => void;
  const open = new Promise<void>((resolve, reject) => {
    opened = resolve;
    failed = reject;
  });
  const session = new ClientSession({
    daemonId: reg.daemonId,
    sessionId: decodeSid(sid)!,
    pinnedIdentity: reg.identity.publicKey,
    send: (frame) => ws.readyState === ws.OPEN && ws.send(frame),
    onEvent: (event) => {
      if (event.type === 'open') opened();
      else if (event.type === 'message') frames.push(decodeInner(event.data));
      else if (event.type === 'closed') {
        closed = true;
        failed(event.error ?? new Error('closed before open'));
      }
    },
  });
  ws.on('message', (data) => session.receive(messageBytes(data)));
  ws.once('close', () => session.close());
  ws.resume();
  session.start();
  await open;
  if (options.hello ?? true) {
    const hello = { versions: [1], streamWindow: STREAM_DEFAULTS.streamWindow, sessionWindow: STREAM_DEFAULTS.sessionWindow, maxStreams: 16, maxHeadBytes: 32768, maxMessageBytes: 1024, capabilities: ['http'] };
    session.sendMessage(encodeInner(InnerKind.HELLO, 0, encodeHello(hello)));
  }
  return {
    session,
    frames,
    get closed() {
      return closed;
    },
    send: (bytes) => session.sendMessage(bytes),
    async close() {
      await closeSocket(ws);
      session.close();
    },
  };
}
