import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { FrameType } from '../../protocol/codes.js';
import { encodeFrame } from '../../protocol/frame-codec.js';
import { eventually, TestPeer, TestRelay } from '../testing/harness.js';
import { describeWithRedis } from '../testing/redis-gate.js';
import { startRedisServer, type RedisServer } from '../testing/redis-server.js';
import { startRelayProcess, type RelayProcess } from '../testing/relay-process.js';
import type { ClusterTimers } from './cluster-options.js';

/**
 * Credit across nodes (scale-out.md §6): a session never has more than one window in flight over
 * Redis per direction; frames past it wait (the client is not read, the owner queues daemon
 * frames up to a local socket's send-buffer limit), and a session starved too long ends with
 * `backpressure` on both sides. The stalled edge is a real process stopped with SIGSTOP.
 */

const WINDOW = 13 + 65536; // the smallest window: one largest frame
const PIECE = 16 * 1024;
const TIMERS: ClusterTimers = { leaseTtlMs: 3000, leaseRenewMs: 300, heartbeatMs: 200, deadAfterMs: 5000, probeIntervalMs: 3000 };
const data = (sid: bigint, seq: number, length = PIECE): Uint8Array => {
  const body = new Uint8Array(length);
  new DataView(body.buffer).setUint32(0, seq);
  return encodeFrame(FrameType.Data, sid, body);
};
const seqOf = (payload: Uint8Array): number => new DataView(payload.buffer, payload.byteOffset).getUint32(0);

let redis: RedisServer;
let run = 0;

describeWithRedis('cross-node credit', { timeout: 40_000 }, () => {
  // Inside the gated suite so no redis-server is started when the suite is skipped.
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const step of cleanup.reverse()) await step();
    cleanup.length = 0;
  });

  async function writer(limits: Record<string, number> = {}): Promise<TestRelay> {
    const relay = await TestRelay.start({ graceMs: 3000, limits: { crossNodeWindowBytes: WINDOW, ...limits },
      cluster: { backplane: 'redis', redisUrl: redis.url, nodeId: `flow${++run}a`, timers: TIMERS } });
    cleanup.push(() => relay.close());
    return relay;
  }

  it('carries megabytes both ways through a one-frame window, in order, and returns every credit', async () => {
    const a = await writer();
    const b = await TestRelay.start({ controlPlaneUrl: a.relay.url, limits: { crossNodeWindowBytes: WINDOW },
      cluster: { backplane: 'redis', redisUrl: redis.url, nodeId: `flow${run}b`, timers: TIMERS } });
    cleanup.push(() => b.close());
    const daemon = await a.onlineDaemon();
    const { token, sessionId } = await a.clientToken(daemon.daemonId);
    const client = await b.open(token);
    const n = 300; // 300 × 16 KiB ≈ 4.8 MB each way, 75 windows
    for (let i = 0; i < n; i++) client.send(data(sessionId, i));
    for (let i = 0; i < n; i++) daemon.peer.send(data(sessionId, i));
    const count = (peer: TestPeer): number => peer.frames.filter((f) => f.type === FrameType.Data).length;
    await eventually(() => count(daemon.peer) === n && count(client) === n, 20_000, 'every frame delivered');
    expect(daemon.peer.frames.filter((f) => f.type === FrameType.Data).map((f) => seqOf(f.payload))).toEqual([...Array(n).keys()]);
    expect(client.frames.filter((f) => f.type === FrameType.Data).map((f) => seqOf(f.payload))).toEqual([...Array(n).keys()]);
    expect(client.controls()).toEqual([]);
    const inflight = (text: string): number => Number(/sbrp_relay_cluster_inflight_bytes (\d+)/.exec(text)![1]);
    expect(inflight(await a.metricsText())).toBeLessThanOrEqual(WINDOW);
    expect(inflight(await b.metricsText())).toBeLessThanOrEqual(WINDOW);
  });

  async function stalledEdge(a: TestRelay): Promise<{ edge: RelayProcess; client: TestPeer; sessionId: bigint; daemon: Awaited<ReturnType<TestRelay['onlineDaemon']>> }> {
    const edge = await startRelayProcess(['--backplane', 'redis', '--redis', redis.url, '--node-id', `flow${run}b`, '--port', '0',
      '--control-plane-url', a.relay.url, '--cross-node-window', String(WINDOW), '--lease-ttl', '3', '--lease-renew', '0.3',
      '--node-heartbeat', '0.2', '--node-dead-after', '5', '--probe-interval', '3']);
    cleanup.push(() => edge.stop('SIGKILL'));
    const daemon = await a.onlineDaemon();
    const { token, sessionId } = await a.clientToken(daemon.daemonId);
    const ws = new WebSocket(edge.wsUrl, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    const client = new TestPeer(ws);
    cleanup.push(async () => ws.terminate());
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    // One frame each way proves the path before the edge is stopped.
    client.send(data(sessionId, 0, 64));
    await daemon.peer.next((f) => f.type === FrameType.Data);
    daemon.peer.send(data(sessionId, 0, 64));
    await client.next((f) => f.type === FrameType.Data);
    return { edge, client, sessionId, daemon };
  }

  it('ends a session whose stalled edge lets the owner queue past the send-buffer limit: backpressure, daemon told at once', async () => {
    const a = await writer({ maxBufferedBytes: 65_536, crossNodeStallTimeoutMs: 60_000 });
    const { edge, client, sessionId, daemon } = await stalledEdge(a);
    edge.child.kill('SIGSTOP');
    cleanup.push(async () => edge.child.kill('SIGCONT'));
    for (let i = 1; i <= 12; i++) daemon.peer.send(data(sessionId, i)); // 4 in flight, then the queue passes 64 KiB
    await daemon.peer.control('session_ended', sessionId, 5000);
    expect(await a.metricsText()).toMatch(/sbrp_relay_cluster_sessions_ended_total\{reason="backpressure"\} 1/);
    edge.child.kill('SIGCONT');
    await client.control('backpressure', undefined, 5000);
    await client.closedWithin(5000);
  });

  it('ends a session starved of credit past the stall timeout with backpressure', async () => {
    const a = await writer({ crossNodeStallTimeoutMs: 300 });
    const { edge, client, sessionId, daemon } = await stalledEdge(a);
    edge.child.kill('SIGSTOP');
    cleanup.push(async () => edge.child.kill('SIGCONT'));
    for (let i = 1; i <= 6; i++) daemon.peer.send(data(sessionId, i)); // more than one window: some wait for credit
    await daemon.peer.control('session_ended', sessionId, 5000);
    edge.child.kill('SIGCONT');
    await client.control('backpressure', undefined, 5000);
  });
});
