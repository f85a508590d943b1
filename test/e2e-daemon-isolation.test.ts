import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClientSession } from '../protocol/client-session.js';
import { FrameType } from '../protocol/codes.js';
import { encodeFrame } from '../protocol/frame-codec.js';
import type { SbrpError } from '../protocol/errors.js';
import { decodeSid } from '../protocol/session-id.js';
import { closeSocket, messageBytes, openRelaySocket } from '../node/relay-socket.js';
import type { SidebandClient } from '../client/connect.js';
import type { DaemonState } from '../daemon/daemon-types.js';
import { checkNoLeakedHandles } from './helpers/leak-check.js';
import { startHttpFixture, type HttpFixture } from './helpers/http-fixture.js';
import { waitFor } from './helpers/wait.js';
import { encodeInner } from '../protocol/stream/inner-frame.js';
import { encodeHello } from '../protocol/stream/heads.js';
import { InnerKind, STREAM_DEFAULTS } from '../protocol/stream/stream-codes.js';

const hello = (): Uint8Array =>
  encodeInner(InnerKind.HELLO, 0, encodeHello({ versions: [1], streamWindow: STREAM_DEFAULTS.streamWindow, sessionWindow: STREAM_DEFAULTS.sessionWindow, maxStreams: 16, maxHeadBytes: 32768, maxMessageBytes: 1024, capabilities: ['http'] }));

/**
 * One client's misbehaviour must cost that session only (hardening issue: "one client can take
 * a daemon offline for everyone"). Client A is a raw SBRP client with a valid token that
 * replays or corrupts its own Data frames; client B is an ordinary client whose requests must
 * keep succeeding while the daemon's one relay connection stays up.
 */
describe('e2e: one misbehaving session cannot take the daemon offline', () => {
  checkNoLeakedHandles();
  let h: HttpFixture;
  let states: DaemonState[];
  let b: SidebandClient;

  beforeEach(async () => {
    h = await startHttpFixture({ fetch: (request) => new Response(`ok ${new URL(request.url).pathname}`) });
    states = [];
    h.server.on('state', ({ state }) => states.push(state));
    b = h.client();
    expect(await (await b.fetch('/warmup')).text()).toBe('ok /warmup');
  });

  afterEach(async () => {
    await h.close();
  });

  const rawClient = () => rawClientFor(h);

  /** B keeps requesting while `attack` runs; every request must succeed. */
  async function whileBKeepsWorking(attack: () => Promise<void>): Promise<number> {
    let stop = false;
    let served = 0;
    const loop = (async () => {
      while (!stop) {
        const res = await b.fetch(`/b/${served}`);
        expect(res.status).toBe(200);
        expect(await res.text()).toBe(`ok /b/${served}`);
        served++;
      }
    })();
    try {
      await attack();
    } finally {
      stop = true;
      await loop;
    }
    return served;
  }

  /** The garbage client A sends, 300 times over, once its session is open. */
  const attacks: [string, (a: RawClient) => Uint8Array, string][] = [
    ['replays its first Data frame', (a) => a.sent[0]!, 'replays'],
    // Seq 1 is fresh, so the daemon authenticates it: decrypt_failed on the first, then frames for a closed session.
    ['sends Data that fails authentication', (a) => encodeFrame(FrameType.Data, a.sessionId, concat(nonce(1, 1n), new Uint8Array(32))), 'error'],
    // The relay does not parse HandshakeInit (sbrp.md §1): only the daemon sees it is 31 bytes.
    ['sends a malformed HandshakeInit', (a) => encodeFrame(FrameType.HandshakeInit, a.sessionId, new Uint8Array(31)), 'error'],
  ];

  it.each(attacks)('A %s 300 times: only A ends; B and the relay connection are untouched', async (_name, garbage, reason) => {
    const disconnects: DaemonState[] = [];
    h.server.on('state', ({ state }) => state !== 'connected' && disconnects.push(state));
    const bTrouble: string[] = [];
    for (const type of ['paused', 'disconnected', 'closed'] as const) b.on(type, () => bTrouble.push(type));
    const closedAtDaemon: { sessionId: bigint; reason: string }[] = [];
    h.server.on('session_closed', (event) => closedAtDaemon.push(event));
    const a = await rawClient();
    a.send(hello()); // the first thing a client says: one valid Data frame
    const served = await whileBKeepsWorking(async () => {
      const frame = garbage(a);
      for (let i = 0; i < 300; i++) a.raw(frame);
      await waitFor(() => a.closed, 'A session ended');
      // Frames of A still in flight reach the daemon after it ended A: B must not notice.
      for (let i = 0; i < 5; i++) expect((await b.fetch('/after')).status).toBe(200);
    });
    expect(a.error?.code).toBe('session_expired');
    expect(served).toBeGreaterThan(0);
    expect(disconnects).toEqual([]);
    expect(bTrouble).toEqual([]);
    expect(h.server.status.state).toBe('connected');
    expect(closedAtDaemon).toEqual([expect.objectContaining({ sessionId: a.sessionId, reason })]);
    await a.close();
  });
});

type RawClient = Awaited<ReturnType<typeof rawClientFor>>;

/** Nonce for `direction` (1 client→daemon) and `seq` (sbrp.md §2). */
function nonce(direction: number, seq: bigint): Uint8Array {
  const out = new Uint8Array(12);
  const view = new DataView(out.buffer);
  view.setUint32(0, direction, false);
  view.setBigUint64(4, seq, false);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** A raw client A: handshakes with a valid token, and keeps every Data frame it sent. */
async function rawClientFor(h: HttpFixture) {
  const { token, sid } = await h.fx.controlPlane.sessionToken(h.reg.apiKey, h.reg.daemonId);
  const ws = await openRelaySocket(h.fx.relay.wsUrl, token);
  const sessionId = decodeSid(sid)!;
  const sent: Uint8Array[] = [];
  let closedWith: SbrpError | undefined;
  let closed = false;
  let opened!: () => void;
  const open = new Promise<void>((resolve) => (opened = resolve));
  const session = new ClientSession({
    daemonId: h.reg.daemonId,
    sessionId,
    pinnedIdentity: h.reg.identity.publicKey,
    send: (frame) => {
      if (frame[0] === FrameType.Data) sent.push(frame.slice());
      if (ws.readyState === ws.OPEN) ws.send(frame);
    },
    onEvent: (event) => {
      if (event.type === 'open') opened();
      if (event.type === 'closed') {
        closed = true;
        closedWith = event.error;
      }
    },
  });
  ws.on('message', (data) => session.receive(messageBytes(data)));
  ws.once('close', () => session.close());
  ws.resume();
  session.start();
  await open;
  return {
    sessionId,
    sent,
    get closed() {
      return closed;
    },
    get error() {
      return closedWith;
    },
    send: (plaintext: Uint8Array) => session.sendMessage(plaintext),
    raw: (frame: Uint8Array) => ws.readyState === ws.OPEN && ws.send(frame),
    close: async () => {
      await closeSocket(ws);
      session.close();
    },
  };
}
