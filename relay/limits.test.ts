import { afterEach, describe, expect, it } from 'vitest';
import { FrameType, MAX_PAYLOAD } from '../protocol/codes.js';
import { encodeFrame } from '../protocol/frame-codec.js';
import { pingFrame } from '../protocol/frames.js';
import { eventually, sleep, TestRelay } from './testing/harness.js';

/** style.md 7 and sbrp.md §3–§4: every limit of the data plane, hit for real. */

const data = (sid: bigint, n: number, length = 28): Uint8Array => {
  const payload = new Uint8Array(length);
  new DataView(payload.buffer).setUint32(0, n);
  return encodeFrame(FrameType.Data, sid, payload);
};
const seq = (payload: Uint8Array): number => new DataView(payload.buffer, payload.byteOffset).getUint32(0);

describe('relay limits', () => {
  let t: TestRelay | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('rate-limits a client with one rate_limited per window and loses no frame', async () => {
    t = await TestRelay.start({ limits: { clientRate: { perSecond: 100, burst: 10 }, rateNoticeIntervalMs: 5000 } });
    const daemon = await t.onlineDaemon();
    const c = await t.client(daemon.daemonId);
    const started = Date.now();
    // Batches in separate TCP writes: a paused relay leaves later batches unread in the kernel.
    for (let i = 0; i < 60; i++) {
      c.peer.send(data(c.sessionId, i));
      if (i % 10 === 9) await sleep(5);
    }
    const notice = await c.peer.control('rate_limited');
    expect(notice.sessionId).toBe(0n);
    for (let i = 0; i < 60; i++) expect(seq((await daemon.peer.next((f) => f.type === FrameType.Data)).payload)).toBe(i);
    // 50 frames over the burst at 100/s take about half a second: the relay really stopped reading.
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(t.relay.metrics.framesForwarded.client_to_daemon).toBe(60);
    expect(c.peer.frames.filter((f) => f.control === 'rate_limited')).toHaveLength(1);
    expect(c.peer.ws.readyState).toBe(c.peer.ws.OPEN); // rate_limited is not terminal
  });

  it('rate-limits a daemon the same way', async () => {
    t = await TestRelay.start({ limits: { daemonRate: { perSecond: 200, burst: 20 }, rateNoticeIntervalMs: 100 } });
    const daemon = await t.onlineDaemon();
    const c = await t.client(daemon.daemonId);
    const started = Date.now();
    for (let i = 0; i < 100; i++) {
      daemon.peer.send(data(c.sessionId, i));
      if (i % 10 === 9) await sleep(5);
    }
    for (let i = 0; i < 100; i++) expect(seq((await c.peer.next((f) => f.type === FrameType.Data)).payload)).toBe(i);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    await daemon.peer.control('rate_limited');
    const notices = daemon.peer.frames.filter((f) => f.control === 'rate_limited').length;
    // ~400 ms over the rate with a 100 ms window: more than one notice, but far fewer than frames.
    expect(notices).toBeGreaterThanOrEqual(1);
    expect(notices).toBeLessThanOrEqual(6);
  });

  it('closes a slow consumer with backpressure while another session keeps working', async () => {
    t = await TestRelay.start({ limits: { maxBufferedBytes: 256 * 1024, closeTimeoutMs: 200 } });
    const daemon = await t.onlineDaemon();
    const slow = await t.client(daemon.daemonId);
    const fast = await t.client(daemon.daemonId);
    // The slow client stops reading its TCP socket; kernel buffers fill, then the relay's ws buffer.
    (slow.peer.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const big = data(slow.sessionId, 0, MAX_PAYLOAD);
    let ended = false;
    void daemon.peer.control('session_ended', slow.sessionId, 20_000).then(() => (ended = true));
    for (let round = 0; round < 400 && !ended; round++) {
      for (let i = 0; i < 16; i++) daemon.peer.send(big);
      await sleep(5);
    }
    await eventually(() => ended, 5000, 'session_ended for the slow client');
    expect(t.relay.metrics.controlSent.get('backpressure')).toBe(1);
    // The other session on the same daemon is unaffected in both directions.
    daemon.peer.send(data(fast.sessionId, 7));
    expect(seq((await fast.peer.next((f) => f.type === FrameType.Data)).payload)).toBe(7);
    fast.peer.send(data(fast.sessionId, 8));
    expect(seq((await daemon.peer.next((f) => f.type === FrameType.Data && f.sessionId === fast.sessionId)).payload)).toBe(8);
    expect(await t.metricsText()).toContain('sbrp_relay_control_sent_total{code="backpressure"} 1');
  });

  it('closes a connection that stays silent past the idle timeout, but not one that pings', async () => {
    t = await TestRelay.start({ limits: { idleTimeoutMs: 300 } });
    const daemon = await t.onlineDaemon();
    const c = await t.client(daemon.daemonId);
    const timer = setInterval(() => daemon.peer.send(pingFrame()), 100);
    try {
      expect(await c.peer.closedWithin(2000)).toBe(4001);
      expect(daemon.peer.ws.readyState).toBe(daemon.peer.ws.OPEN);
    } finally {
      clearInterval(timer);
    }
    expect(await daemon.peer.closedWithin(2000)).toBe(4001);
  });

  it('refuses upgrades over maxConnections with 429', async () => {
    t = await TestRelay.start({ limits: { maxConnections: 2 } });
    const daemon = await t.onlineDaemon();
    await t.client(daemon.daemonId);
    const third = await t.connect({ token: (await t.clientToken(daemon.daemonId)).token });
    expect(third.ok ? 0 : third.status).toBe(429);
    expect(third.ok ? '' : JSON.parse(third.body).error.code).toBe('too_many_connections');
  });

  it('refuses client upgrades over maxSessionsPerDaemon with 429', async () => {
    t = await TestRelay.start({ limits: { maxSessionsPerDaemon: 2 } });
    const daemon = await t.onlineDaemon();
    await t.client(daemon.daemonId);
    await t.client(daemon.daemonId);
    const third = await t.connect({ token: (await t.clientToken(daemon.daemonId)).token });
    expect(third.ok ? 0 : third.status).toBe(429);
    expect(third.ok ? '' : JSON.parse(third.body).error.code).toBe('too_many_sessions');
    // Another daemon is not affected by this one's limit.
    const other = await t.onlineDaemon();
    await t.client(other.daemonId);
  });

  it('releases every socket and timer on close, and close is idempotent', async () => {
    const relay = await TestRelay.start({ graceMs: 60_000 });
    const daemon = await relay.onlineDaemon();
    const c = await relay.client(daemon.daemonId);
    daemon.peer.ws.close();
    await c.peer.control('session_paused', c.sessionId); // a 60 s grace timer is now armed
    await Promise.all([relay.relay.close(), relay.relay.close()]);
    await c.peer.closedWithin();
    await relay.close();
  });
});
