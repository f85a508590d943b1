import type WebSocket from 'ws';
import { ClientSession } from '../../protocol/client-session.js';
import { decodeSid } from '../../protocol/session-id.js';
import { encodeInner } from '../../protocol/stream/inner-frame.js';
import { encodeHello } from '../../protocol/stream/heads.js';
import { InnerKind, STREAM_DEFAULTS } from '../../protocol/stream/stream-codes.js';
import { messageBytes, openRelaySocket } from '../../node/relay-socket.js';
import type { ControlPlaneClient } from '../../node/control-plane-client.js';
import type { DaemonIdentity } from '../../daemon/identity.js';

/**
 * A client that completes a real SBRP handshake (and the inner HELLO) and then lets a test send
 * anything: raw WebSocket messages below SBRP (`ws`), or any plaintext inside valid encrypted
 * Data frames (`sendInner`). `ended` resolves with how the connection ended: the SBRP code the
 * relay or daemon gave (from a Control frame), and the WebSocket close code.
 */
export interface GarbageClient {
  readonly ws: WebSocket;
  readonly session: ClientSession;
  readonly sessionId: bigint;
  /** Decrypted inner frames from the daemon. */
  readonly received: Uint8Array[];
  sendInner(plaintext: Uint8Array): void;
  readonly ended: Promise<{ code?: string; closeCode: number }>;
  close(): void;
}

export async function openGarbageClient(options: { wsUrl: string; controlPlane: ControlPlaneClient; apiKey: string; daemonId: string; identity: DaemonIdentity }): Promise<GarbageClient> {
  const { token, sid } = await options.controlPlane.sessionToken(options.apiKey, options.daemonId);
  const ws = await openRelaySocket(options.wsUrl, token);
  const received: Uint8Array[] = [];
  let sbrpCode: string | undefined;
  let opened!: () => void;
  let failed!: (error: Error) => void;
  const open = new Promise<void>((resolve, reject) => {
    opened = resolve;
    failed = reject;
  });
  const sessionId = decodeSid(sid)!;
  const session = new ClientSession({
    daemonId: options.daemonId,
    sessionId,
    pinnedIdentity: options.identity.publicKey,
    send: (frame) => ws.readyState === ws.OPEN && ws.send(frame),
    onEvent: (event) => {
      if (event.type === 'open') opened();
      else if (event.type === 'message') received.push(event.data);
      else if (event.type === 'closed') {
        sbrpCode ??= event.error?.code;
        failed(event.error ?? new Error('closed before open'));
      }
    },
  });
  const ended = new Promise<{ code?: string; closeCode: number }>((resolve) => {
    ws.once('close', (closeCode) => {
      session.close();
      resolve({ code: sbrpCode, closeCode });
    });
  });
  ws.on('message', (data) => session.receive(messageBytes(data)));
  ws.on('error', () => {}); // the relay may reset a peer it refuses; `ended` reports the close
  ws.resume();
  session.start();
  await open;
  const hello = { versions: [1], streamWindow: STREAM_DEFAULTS.streamWindow, sessionWindow: STREAM_DEFAULTS.sessionWindow, maxStreams: 16, maxHeadBytes: 32768, maxMessageBytes: 1024, capabilities: ['http'] };
  session.sendMessage(encodeInner(InnerKind.HELLO, 0, encodeHello(hello)));
  return {
    ws,
    session,
    sessionId,
    received,
    sendInner: (plaintext) => session.sendMessage(plaintext),
    ended,
    close: () => ws.terminate(),
  };
}
