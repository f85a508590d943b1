import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FrameType, SignalCode, SignalReason } from '../protocol/codes.js';
import { encodeFrame } from '../protocol/frame-codec.js';
import { handshakeInitFrame, pingFrame, signalFrame } from '../protocol/frames.js';
import { sleep, TestRelay } from './testing/harness.js';

/** sbrp.md §4: routing, Ping/Pong, and the session lifecycle across daemon drops. */

const data = (sid: bigint, fill = 7, length = 40): Uint8Array => encodeFrame(FrameType.Data, sid, new Uint8Array(length).fill(fill));

/** Several client→server WebSocket binary messages (masked with a zero key) in one TCP write. */
function oneTcpWrite(ws: unknown, messages: Uint8Array[]): void {
  const parts = messages.map((m) => {
    if (m.length >= 126) throw new RangeError('short messages only');
    return Buffer.concat([Buffer.from([0x82, 0x80 | m.length, 0, 0, 0, 0]), m]);
  });
  (ws as { _socket: { write(b: Buffer): void } })._socket.write(Buffer.concat(parts));
}

/**
 * Grace for the tests in which a paused session must survive until the daemon is back: far
 * longer than any test run, so a slow machine cannot expire the session mid-test. Tests of the
 * expiry itself start a relay of their own with SHORT_GRACE_MS and wait on the Control frame.
 */
const LONG_GRACE_MS = 10 * 60_000;
const SHORT_GRACE_MS = 300;
/** How long a wait for an expiry may take on a loaded machine (a bound on failure, not a clock). */
const EXPIRY_WAIT_MS = 20_000;

describe('relay routing and session lifecycle', () => {
  let t: TestRelay;
  beforeEach(async () => {
    t = await TestRelay.start({ graceMs: LONG_GRACE_MS });
  });
  afterEach(async () => {
    await t.close();
  });

  it('forwards client frames unchanged to the daemon and daemon frames to the right client', async () => {
    const daemon = await t.onlineDaemon();
    const a = await t.client(daemon.daemonId);
    const b = await t.client(daemon.daemonId);
    const init = handshakeInitFrame(a.sessionId, new Uint8Array(32).fill(1));
    a.peer.send(init);
    const got = await daemon.peer.next((f) => f.type === FrameType.HandshakeInit);
    expect(got.sessionId).toBe(a.sessionId);
    expect(got.payload).toEqual(new Uint8Array(32).fill(1));

    daemon.peer.send(data(b.sessionId, 9));
    const toB = await b.peer.next((f) => f.type === FrameType.Data);
    expect(toB.payload).toEqual(new Uint8Array(40).fill(9));
    daemon.peer.send(encodeFrame(FrameType.HandshakeAccept, a.sessionId, new Uint8Array(128).fill(3)));
    const toA = await a.peer.next((f) => f.type === FrameType.HandshakeAccept);
    expect(toA.payload).toEqual(new Uint8Array(128).fill(3));
    await sleep(50);
    expect(a.peer.frames.filter((f) => f.type === FrameType.Data)).toHaveLength(0); // B's data never reached A
    expect(t.relay.metrics.framesForwarded).toEqual({ client_to_daemon: 1, daemon_to_client: 2 });
  });

  it('answers Ping with a Pong carrying the same payload and never forwards it', async () => {
    const daemon = await t.onlineDaemon();
    const c = await t.client(daemon.daemonId);
    c.peer.send(pingFrame(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)));
    const pong = await c.peer.next((f) => f.type === FrameType.Pong);
    expect(pong.sessionId).toBe(0n);
    expect(pong.payload).toEqual(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    daemon.peer.send(pingFrame());
    expect((await daemon.peer.next((f) => f.type === FrameType.Pong)).payload).toHaveLength(0);
    c.peer.send(encodeFrame(FrameType.Pong, 0n, Uint8Array.of(1))); // a stray Pong is ignored
    await sleep(50);
    expect(daemon.peer.frames.some((f) => f.type === FrameType.Ping || f.type === FrameType.Pong && f.payload.length > 0)).toBe(false);
    expect(t.relay.metrics.framesForwarded.client_to_daemon).toBe(0);
  });

  it('tells the daemon session_ended when a client leaves', async () => {
    const daemon = await t.onlineDaemon();
    const c = await t.client(daemon.daemonId);
    c.peer.ws.close();
    const ended = await daemon.peer.control('session_ended', c.sessionId);
    expect(ended.sessionId).toBe(c.sessionId);
  });

  it('sends daemon_not_found for an unknown daemon and daemon_offline for an offline one', async () => {
    const ghost = await t.sign(t.claims('client', 'dmn_000000000000000000000000'));
    const lost = await t.open(ghost);
    const notFound = await lost.control('daemon_not_found');
    expect(notFound.sessionId).not.toBe(0n);
    await lost.closedWithin();

    const daemon = await t.registerDaemon();
    const c = await t.client(daemon.daemonId);
    await c.peer.control('daemon_offline', c.sessionId);
    await c.peer.closedWithin();
  });

  it('pauses sessions when the daemon drops, then pending → resumed on Signal(ready), flushing nothing lost', async () => {
    const daemon = await t.onlineDaemon();
    const c = await t.client(daemon.daemonId);
    daemon.peer.ws.close();
    await c.peer.control('session_paused', c.sessionId);
    // Frames sent while paused wait (the relay stops reading this client) and must arrive later, in order.
    for (let i = 0; i < 5; i++) c.peer.send(data(c.sessionId, i));
    expect(await t.metricsText()).toMatch(/sbrp_relay_sessions\{state="paused"\} 1/);

    const back = await t.open(await t.daemonToken(daemon.daemonId, true));
    await c.peer.control('session_pending', c.sessionId);
    expect(await t.metricsText()).toMatch(/sbrp_relay_sessions\{state="pending"\} 1/);
    back.send(signalFrame(c.sessionId, SignalCode.ready));
    await c.peer.control('session_resumed', c.sessionId);
    for (let i = 0; i < 5; i++) {
      const f = await back.next((x) => x.type === FrameType.Data);
      expect(f.payload[0]).toBe(i);
    }
    // And the resumed session keeps working both ways.
    back.send(data(c.sessionId, 42));
    expect((await c.peer.next((f) => f.type === FrameType.Data)).payload[0]).toBe(42);
    expect(await t.metricsText()).toMatch(/sbrp_relay_sessions\{state="active"\} 1/);
  });

  it('keeps answering a paused client’s Pings and notices at once when it leaves', async () => {
    const daemon = await t.onlineDaemon();
    const c = await t.client(daemon.daemonId);
    daemon.peer.ws.close();
    await c.peer.control('session_paused', c.sessionId);
    c.peer.send(pingFrame(Uint8Array.of(9)));
    expect((await c.peer.next((f) => f.type === FrameType.Pong)).payload).toEqual(Uint8Array.of(9));
    c.peer.ws.close();
    await c.peer.closedWithin();
    expect(await t.metricsText()).toMatch(/sbrp_relay_sessions\{state="paused"\} 0/);
    // The daemon comes back and signals the session that is gone: session_not_found, not terminal.
    const back = await t.open(await t.daemonToken(daemon.daemonId, true));
    back.send(signalFrame(c.sessionId, SignalCode.ready));
    await back.control('session_not_found', c.sessionId);
    expect(back.ws.readyState).toBe(back.ws.OPEN);
  });

  it('holds frames that arrive in one TCP read with a paused session, in order', async () => {
    const daemon = await t.onlineDaemon();
    const c = await t.client(daemon.daemonId);
    daemon.peer.ws.close();
    await c.peer.control('session_paused', c.sessionId);
    oneTcpWrite(c.peer.ws, [data(c.sessionId, 1), data(c.sessionId, 2), data(c.sessionId, 3)]);
    await sleep(50);
    const back = await t.open(await t.daemonToken(daemon.daemonId, true));
    await c.peer.control('session_pending', c.sessionId);
    back.send(signalFrame(c.sessionId, SignalCode.ready));
    for (const fill of [1, 2, 3]) expect((await back.next((f) => f.type === FrameType.Data)).payload[0]).toBe(fill);
  });

  it('stops reading a client that keeps sending while paused, so its frames wait in TCP, not in memory', async () => {
    const small = await TestRelay.start({ graceMs: 5000, limits: { maxHeldBytes: 1000 } });
    try {
      const daemon = await small.onlineDaemon();
      const c = await small.client(daemon.daemonId);
      daemon.peer.ws.close();
      await c.peer.control('session_paused', c.sessionId);
      for (let i = 0; i < 50; i++) {
        c.peer.send(data(c.sessionId, i)); // 50 × 53 bytes, far over the 1000-byte hold limit
        if (i % 5 === 4) await sleep(2);
      }
      await sleep(50);
      const back = await small.open(await small.daemonToken(daemon.daemonId, true));
      await c.peer.control('session_pending', c.sessionId);
      back.send(signalFrame(c.sessionId, SignalCode.ready));
      for (let i = 0; i < 50; i++) expect((await back.next((f) => f.type === FrameType.Data)).payload[0]).toBe(i);
      expect(c.peer.controls().some((x) => x.startsWith('internal_error'))).toBe(false);
    } finally {
      await small.close();
    }
  });

  it('ends a session with internal_error rather than drop a frame when the held bytes pass the limit', async () => {
    const small = await TestRelay.start({ graceMs: 5000, limits: { maxHeldBytes: 100 } });
    try {
      const daemon = await small.onlineDaemon();
      const c = await small.client(daemon.daemonId);
      daemon.peer.ws.close();
      await c.peer.control('session_paused', c.sessionId);
      oneTcpWrite(c.peer.ws, [data(c.sessionId, 1), data(c.sessionId, 2)]); // 2 × 53 bytes > 100
      await c.peer.control('internal_error', 0n);
      await c.peer.closedWithin();
    } finally {
      await small.close();
    }
  });

  it('expires a pending session on Signal(close, state_lost)', async () => {
    const daemon = await t.onlineDaemon();
    const c = await t.client(daemon.daemonId);
    daemon.peer.ws.close();
    await c.peer.control('session_paused', c.sessionId);
    const back = await t.open(await t.daemonToken(daemon.daemonId, true));
    await c.peer.control('session_pending', c.sessionId);
    back.send(signalFrame(c.sessionId, SignalCode.close, SignalReason.state_lost));
    await c.peer.control('session_expired', c.sessionId);
    await c.peer.closedWithin();
    await sleep(30);
    expect(back.controls()).toEqual([]); // no session_ended echo for a session the daemon closed
  });

  it('expires sessions at once when the daemon comes back without session:resume', async () => {
    const daemon = await t.onlineDaemon();
    const c = await t.client(daemon.daemonId);
    daemon.peer.ws.close();
    await c.peer.control('session_paused', c.sessionId);
    await t.open(await t.daemonToken(daemon.daemonId, false));
    // The grace is ten minutes: an expiry now can only be the at-once path.
    await c.peer.control('session_expired', c.sessionId);
    await c.peer.closedWithin();
  });

  it('expires paused sessions when the grace period runs out', async () => {
    const short = await TestRelay.start({ graceMs: SHORT_GRACE_MS });
    try {
      const daemon = await short.onlineDaemon();
      const c = await short.client(daemon.daemonId);
      const started = Date.now();
      daemon.peer.ws.close();
      await c.peer.control('session_paused', c.sessionId);
      await c.peer.control('session_expired', c.sessionId, EXPIRY_WAIT_MS);
      // Only a lower bound: a loaded machine makes the expiry later, never earlier.
      expect(Date.now() - started).toBeGreaterThanOrEqual(SHORT_GRACE_MS - 20);
      await c.peer.closedWithin();
      expect(await short.metricsText()).toMatch(/sbrp_relay_sessions\{state="paused"\} 0/);
    } finally {
      await short.close();
    }
  });

  it('expires a pending session the daemon never signals within the grace period', async () => {
    const short = await TestRelay.start({ graceMs: SHORT_GRACE_MS });
    try {
      const daemon = await short.onlineDaemon();
      const c = await short.client(daemon.daemonId);
      // A newer daemon connection replaces the old one: paused and pending in one step, so no
      // paused grace runs while a slow machine reconnects; only the pending one is measured.
      const back = await short.open(await short.daemonToken(daemon.daemonId, true));
      await c.peer.control('session_pending', c.sessionId);
      // A pending session is not bound to the new connection yet: Data for it is session_not_found
      // (N). Had the grace already run out, the session would be gone: the same answer.
      back.send(data(c.sessionId));
      await back.control('session_not_found', c.sessionId);
      await c.peer.control('session_expired', c.sessionId, EXPIRY_WAIT_MS);
      expect(back.ws.readyState).toBe(back.ws.OPEN);
    } finally {
      await short.close();
    }
  });

  it('replaces a daemon connection with a newer one (exactly one owner)', async () => {
    const daemon = await t.onlineDaemon();
    const c = await t.client(daemon.daemonId);
    const second = await t.open(await t.daemonToken(daemon.daemonId, true));
    expect(await daemon.peer.closedWithin()).toBe(4002);
    await c.peer.control('session_paused', c.sessionId);
    await c.peer.control('session_pending', c.sessionId);
    second.send(signalFrame(c.sessionId, SignalCode.ready));
    await c.peer.control('session_resumed', c.sessionId);
    c.peer.send(data(c.sessionId, 5));
    expect((await second.next((f) => f.type === FrameType.Data)).payload[0]).toBe(5);
    const info = await t.relay.controlPlane.getDaemon(daemon.daemonId);
    expect(info?.online).toBe(true);
  });

  it('closes a client on Signal(close) from an active session with session_expired', async () => {
    const daemon = await t.onlineDaemon();
    const c = await t.client(daemon.daemonId);
    daemon.peer.send(signalFrame(c.sessionId, SignalCode.close, SignalReason.shutdown));
    await c.peer.control('session_expired', c.sessionId);
    await c.peer.closedWithin();
  });
});
