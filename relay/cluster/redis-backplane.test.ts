import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FrameType, SignalCode, SignalReason } from '../../protocol/codes.js';
import { encodeFrame } from '../../protocol/frame-codec.js';
import { signalFrame } from '../../protocol/frames.js';
import { MemoryControlPlaneStore } from '../control-plane/memory-store.js';
import { devicePrincipal } from '../control-plane/pairing.js';
import { eventually, TestRelay, type TestDaemon, type TestPeer } from '../testing/harness.js';
import { describeWithRedis } from '../testing/redis-gate.js';
import { startRedisServer, type RedisServer } from '../testing/redis-server.js';
import type { ClusterTimers } from './cluster-options.js';
import { isBatch, splitBatch } from './envelope-batch.js';
import { decodeEnvelope, encodeEnvelope, EnvelopeType } from './envelope-codec.js';
import { RedisKeys } from './redis-keys.js';

/**
 * Two relay nodes in this process on a private redis-server: n1 is the control-plane writer,
 * n2 forwards the control-plane API to it and verifies tokens against its JWKS (the topology of
 * a real cluster). Cross-node routing, cluster-wide sid/limit checks, leases, takeover and
 * self-fencing, subscriber loss and revocation, each on real sockets.
 */

const TIMERS: ClusterTimers = { leaseTtlMs: 1500, leaseRenewMs: 200, heartbeatMs: 150, deadAfterMs: 1000, probeIntervalMs: 400 };
const data = (sid: bigint, fill: number, length = 40): Uint8Array => encodeFrame(FrameType.Data, sid, new Uint8Array(length).fill(fill));

let redis: RedisServer;
let run = 0;


interface Pair {
  store: MemoryControlPlaneStore;
  a: TestRelay;
  b: TestRelay;
}

async function startPair(options: { graceMs?: number; maxSessionsPerDaemon?: number } = {}): Promise<Pair> {
  run++;
  const store = new MemoryControlPlaneStore();
  const common = { graceMs: options.graceMs ?? 3000, limits: { maxSessionsPerDaemon: options.maxSessionsPerDaemon ?? 4096 } };
  const a = await TestRelay.start({ ...common, store, cluster: { backplane: 'redis', redisUrl: redis.url, nodeId: `r${run}a`, timers: TIMERS } });
  const b = await TestRelay.start({ ...common, controlPlaneUrl: a.relay.url, cluster: { backplane: 'redis', redisUrl: redis.url, nodeId: `r${run}b`, timers: TIMERS } });
  return { store, a, b };
}

describeWithRedis('redis backplane: two nodes', { timeout: 30_000 }, () => {
  // Inside the gated suite so no redis-server is started when the suite is skipped.
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  let pair: Pair | undefined;
  afterEach(async () => {
    await pair?.b.close();
    await pair?.a.close();
    pair = undefined;
  });

  /**
   * A client on node b in a session with a daemon online on node a, one Data frame already
   * through: from the client (`fill` 1, as in a real session the client speaks first), or from
   * the daemon.
   */
  async function crossNodeSession(firstFrom: 'client' | 'daemon' = 'client'): Promise<{ pair: Pair; daemon: TestDaemon & { peer: TestPeer }; client: TestPeer; sessionId: bigint }> {
    pair = await startPair();
    const daemon = await pair.a.onlineDaemon();
    const { token, sessionId } = await pair.a.clientToken(daemon.daemonId);
    const client = await pair.b.open(token);
    if (firstFrom === 'client') {
      client.send(data(sessionId, 1));
      await daemon.peer.next((f) => f.type === FrameType.Data);
    } else {
      daemon.peer.send(data(sessionId, 1));
      await client.next((f) => f.type === FrameType.Data);
    }
    return { pair, daemon, client, sessionId };
  }

  /** The fencing epoch in node a's lease on `daemonId`. */
  async function leaseEpoch(daemonId: string): Promise<bigint> {
    const lease = String(await redis.cli('GET', RedisKeys.owner(daemonId)));
    return BigInt(lease.slice(lease.lastIndexOf(':') + 1));
  }

  /** Publishes `messages` to `channel` on a connection of its own, as another node would. */
  async function publish(channel: string, ...messages: Uint8Array[]): Promise<void> {
    const publisher = new Redis(redis.url);
    try {
      for (const message of messages) await publisher.publish(channel, Buffer.from(message));
    } finally {
      publisher.disconnect();
    }
  }

  it('routes a client on one node to its daemon on another, both ways, in order', async () => {
    pair = await startPair();
    const { a, b } = pair;
    const daemon = await a.onlineDaemon();
    const { token, sessionId } = await a.clientToken(daemon.daemonId);
    const client = await b.open(token);
    for (let i = 0; i < 200; i++) client.send(data(sessionId, i % 256));
    for (let i = 0; i < 200; i++) daemon.peer.send(data(sessionId, (i + 7) % 256));
    await eventually(() => daemon.peer.frames.filter((f) => f.type === FrameType.Data).length === 200, 15_000, 'client frames at the daemon');
    await eventually(() => client.frames.filter((f) => f.type === FrameType.Data).length === 200, 15_000, 'daemon frames at the client');
    expect(daemon.peer.frames.filter((f) => f.type === FrameType.Data).map((f) => f.payload[0])).toEqual([...Array(200).keys()].map((i) => i % 256));
    expect(client.frames.filter((f) => f.type === FrameType.Data).map((f) => f.payload[0])).toEqual([...Array(200).keys()].map((i) => (i + 7) % 256));
    expect(b.relay.metrics.cluster.frames.sent).toBeGreaterThanOrEqual(200);
    client.ws.close();
    await daemon.peer.control('session_ended', sessionId);
    expect(await a.relay.controlPlane.getDaemon(daemon.daemonId)).toMatchObject({ online: true });
  });

  it('refuses a reused sid on any node (409) and counts the session limit cluster-wide (429)', async () => {
    pair = await startPair({ maxSessionsPerDaemon: 2 });
    const { a, b } = pair;
    const daemon = await a.onlineDaemon();
    const first = await a.clientToken(daemon.daemonId);
    await a.open(first.token);
    const replay = await b.connect({ token: first.token });
    expect(replay).toMatchObject({ ok: false, status: 409 });
    await b.open((await a.clientToken(daemon.daemonId)).token);
    const third = await b.connect({ token: (await a.clientToken(daemon.daemonId)).token });
    expect(third).toMatchObject({ ok: false, status: 429 });
  });

  it('answers daemon_offline on any node when the daemon holds no socket anywhere', async () => {
    pair = await startPair();
    const { a, b } = pair;
    const daemon = await a.registerDaemon();
    const client = await b.open((await a.clientToken(daemon.daemonId)).token);
    await client.control('daemon_offline');
    await client.closedWithin();
    expect(await a.relay.controlPlane.getDaemon(daemon.daemonId)).toMatchObject({ online: false });
  });

  it('pauses the session at the edge when the daemon leaves, and resumes it when it returns through another node', async () => {
    const { pair: { a, b }, daemon, client, sessionId } = await crossNodeSession();
    daemon.peer.ws.close();
    await client.control('session_paused', sessionId);
    client.send(data(sessionId, 2)); // held at the edge while paused
    const back = await b.open(await a.daemonToken(daemon.daemonId)); // the daemon returns via node b
    await client.control('session_pending', sessionId);
    back.send(signalFrame(sessionId, SignalCode.ready, SignalReason.none));
    await client.control('session_resumed', sessionId);
    const held = await back.next((f) => f.type === FrameType.Data);
    expect(held.payload[0]).toBe(2);
    back.send(data(sessionId, 3));
    expect((await client.next((f) => f.type === FrameType.Data)).payload[0]).toBe(3);
  });

  it('lets the newest daemon connection take over: the old node closes its socket with 4002, sessions follow', async () => {
    pair = await startPair();
    const { a, b } = pair;
    const daemon = await a.onlineDaemon();
    const local = await a.client(daemon.daemonId);
    const { token, sessionId } = await a.clientToken(daemon.daemonId);
    const remote = await b.open(token);
    remote.send(data(sessionId, 1));
    await daemon.peer.next((f) => f.type === FrameType.Data && f.sessionId === sessionId);
    const newer = await b.open(await a.daemonToken(daemon.daemonId));
    expect(await daemon.peer.closedWithin()).toBe(4002);
    await local.peer.control('session_pending', local.sessionId);
    await remote.control('session_pending', sessionId);
    newer.send(signalFrame(local.sessionId, SignalCode.ready, SignalReason.none));
    newer.send(signalFrame(sessionId, SignalCode.ready, SignalReason.none));
    await local.peer.control('session_resumed', local.sessionId);
    await remote.control('session_resumed', sessionId);
    local.peer.send(data(local.sessionId, 9));
    expect((await newer.next((f) => f.type === FrameType.Data && f.sessionId === local.sessionId)).payload[0]).toBe(9);
    expect(b.relay.metrics.cluster.takeovers).toBe(1);
  });

  it('fences itself when its lease was taken behind its back (4002, counted)', async () => {
    pair = await startPair();
    const { a } = pair;
    const daemon = await a.onlineDaemon();
    await redis.cli('SET', RedisKeys.owner(daemon.daemonId), 'elsewhere:999999', 'PX', '60000');
    await redis.cli('SET', RedisKeys.epoch(daemon.daemonId), '999999');
    expect(await daemon.peer.closedWithin(5000)).toBe(4002);
    expect(a.relay.metrics.cluster.selfFences).toBe(1);
  });

  it('ends cross-node sessions loudly when the subscriber connection is dropped, then works again', async () => {
    const { pair: { a, b }, daemon, client, sessionId } = await crossNodeSession();
    await redis.cli('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await client.control('internal_error');
    await client.closedWithin();
    await daemon.peer.control('session_ended', sessionId);
    await eventually(() => b.relay.metrics.cluster.subscriberReconnects >= 1 && a.relay.metrics.cluster.subscriberReconnects >= 1, 5000, 'resubscribed');
    await eventually(() => b.relay.metrics.render().includes('sbrp_relay_cluster_subscriber_healthy 1'), 5000, 'subscriber healthy again');
    expect((await fetch(`${b.relay.url}/healthz`)).status).toBe(200);
    const again = await a.clientToken(daemon.daemonId);
    const fresh = await b.open(again.token);
    fresh.send(data(again.sessionId, 5));
    expect((await daemon.peer.next((f) => f.type === FrameType.Data && f.sessionId === again.sessionId)).payload[0]).toBe(5);
  });

  it('closes a revoked device\'s session on another node and refuses its tokens there', async () => {
    pair = await startPair();
    const { store, a, b } = pair;
    const daemon = await a.onlineDaemon();
    await store.insertDevice({ deviceId: 'dev1', daemonId: daemon.daemonId, publicKey: 'x', label: '', createdAt: Date.now() }, 100);
    const principal = devicePrincipal('dev1');
    const issued = await a.relay.controlPlane.issueSessionToken(daemon.daemonId, principal);
    const client = await b.open(issued.token);
    await store.revokeDevice('dev1', daemon.daemonId, Date.now());
    await client.control('forbidden');
    const later = await a.relay.controlPlane.issueSessionToken(daemon.daemonId, principal);
    expect(await b.connect({ token: later.token })).toMatchObject({ ok: false, status: 403 });
  });

  it('forwards the control-plane API from a non-writer node and answers 502 when the writer is down', async () => {
    pair = await startPair();
    const { a, b } = pair;
    const daemon = await a.onlineDaemon();
    const viaB = await fetch(`${b.relay.url}/v1/daemons/${daemon.daemonId}`, { headers: { authorization: `Bearer ${a.relay.adminKey}` } });
    expect(viaB.status).toBe(200);
    expect(await viaB.json()).toMatchObject({ daemonId: daemon.daemonId, online: true });
    const jwks = await fetch(`${b.relay.url}/.well-known/jwks.json`);
    expect((await jwks.json()) as unknown).toEqual(a.relay.controlPlane.jwks);
    await a.close();
    const down = await fetch(`${b.relay.url}/v1/daemons/${daemon.daemonId}`, { headers: { authorization: `Bearer ${a.relay.adminKey}` } });
    expect(down.status).toBe(502);
    expect(await down.json()).toMatchObject({ error: { code: 'control_plane_unavailable' } });
  });

  it('drops malformed envelopes and frames of an older epoch at the receiver (fencing), counting both', async () => {
    const { pair: { b }, daemon, client, sessionId } = await crossNodeSession();
    const epoch = await leaseEpoch(daemon.daemonId);
    const old = encodeEnvelope({ type: EnvelopeType.daemonFrame, node: `r${run}a`, did: daemon.daemonId, epoch: epoch - 1n, sid: sessionId, seq: 0, code: 0, payload: data(sessionId, 66) });
    await publish(RedisKeys.inbox(`r${run}b`), Uint8Array.of(1, 2, 3), old);
    await eventually(() => b.relay.metrics.cluster.malformedEnvelopes === 1 && b.relay.metrics.cluster.staleDropped >= 1, 3000, 'both dropped');
    daemon.peer.send(data(sessionId, 2)); // the live epoch still gets through, and only it
    expect((await client.next((f) => f.type === FrameType.Data)).payload[0]).toBe(2);
    expect(client.frames.filter((f) => f.type === FrameType.Data)).toHaveLength(1);
  });

  it('reports unhealthy while Redis is down, keeps a local session, and re-asserts its lease and used sids after a restart', async () => {
    pair = await startPair();
    const { a } = pair;
    const daemon = await a.onlineDaemon();
    const local = await a.client(daemon.daemonId);
    const used = await a.clientToken(daemon.daemonId);
    (await a.open(used.token)).ws.close();
    await redis.kill('SIGKILL');
    await eventually(() => a.relay.metrics.render().includes('sbrp_relay_cluster_redis_up 0'), 5000, 'redis down noticed');
    expect((await fetch(`${a.relay.url}/healthz`)).status).toBe(503);
    local.peer.send(data(local.sessionId, 4)); // a session on one node needs no Redis
    expect((await daemon.peer.next((f) => f.type === FrameType.Data)).payload[0]).toBe(4);
    expect(await a.connect({ token: (await a.clientToken(daemon.daemonId)).token })).toMatchObject({ ok: false, status: 503 });
    await redis.restart();
    await eventually(() => a.relay.metrics.render().includes('sbrp_relay_cluster_subscriber_healthy 1'), 10_000, 'healthy again');
    expect((await fetch(`${a.relay.url}/healthz`)).status).toBe(200);
    // Redis came back empty: the renew loop puts the lease back rather than fencing itself.
    await expect.poll(async () => redis.cli('GET', RedisKeys.owner(daemon.daemonId)), { timeout: 5000 }).toMatch(new RegExp(`^r${run}a:`));
    expect(a.relay.metrics.cluster.selfFences).toBe(0);
    expect(daemon.peer.ws.readyState).toBe(WebSocket.OPEN);
    const fresh = await pair.b.open((await a.clientToken(daemon.daemonId)).token);
    expect(fresh.ws.readyState).toBe(WebSocket.OPEN);
    // Node a wrote the SessionIDs it saw used back into the emptied Redis: still 409 on node b.
    await eventually(() => pair!.b.relay.metrics.render().includes('sbrp_relay_cluster_subscriber_healthy 1'), 10_000, 'b healthy');
    expect(await pair.b.connect({ token: used.token })).toMatchObject({ ok: false, status: 409 });
  });

  it('ends a session on a hop-sequence gap: internal_error to the client, session_ended to the daemon', async () => {
    const { pair: { b }, daemon, client, sessionId } = await crossNodeSession('daemon');
    const epoch = await leaseEpoch(daemon.daemonId);
    // Seq 5 where 1 is due: frames 1–4 were lost on the hop.
    await publish(RedisKeys.inbox(`r${run}b`), encodeEnvelope({
      type: EnvelopeType.daemonFrame, node: `r${run}a`, did: daemon.daemonId, epoch, sid: sessionId, seq: 5, code: 0, payload: data(sessionId, 2),
    }));
    await client.control('internal_error');
    await daemon.peer.control('session_ended', sessionId);
    expect(client.frames.filter((f) => f.type === FrameType.Data)).toHaveLength(1);
    expect(b.relay.metrics.cluster.sessionsEnded.get('gap')).toBe(1);
  });

  it('keeps at most the session limit of remote sessions per owned daemon, refusing announcements past it', async () => {
    pair = await startPair({ maxSessionsPerDaemon: 2 });
    const { a } = pair;
    const daemon = await a.onlineDaemon();
    const epoch = await leaseEpoch(daemon.daemonId);
    const listener = new Redis(redis.url);
    const publisher = new Redis(redis.url);
    try {
      const lost: bigint[] = [];
      listener.on('messageBuffer', (_channel: Buffer, message: Buffer) => {
        // A node publishes the envelopes of one turn for one node as a batch (publish-batcher.ts).
        for (const part of isBatch(message) ? splitBatch(message) : [message]) {
          const envelope = decodeEnvelope(part);
          if (envelope.type === EnvelopeType.sessionLost) lost.push(envelope.sid);
        }
      });
      await listener.subscribe(RedisKeys.inbox('forger'));
      for (const sid of [11n, 12n, 13n, 14n]) {
        await publisher.publish(RedisKeys.inbox(`r${run}a`), encodeEnvelope({
          type: EnvelopeType.sessionOpen, node: 'forger', did: daemon.daemonId, epoch, sid, seq: 0, code: 0,
        }));
      }
      await eventually(() => lost.length === 2, 3000, 'two refusals');
      expect(lost).toEqual([13n, 14n]);
      expect(await a.metricsText()).toMatch(/sbrp_relay_cluster_remote_sessions 2/);
    } finally {
      listener.disconnect();
      publisher.disconnect();
    }
  });

  it('notices a deaf subscriber with its probe (Redis stopped), ends cross-node sessions, and recovers after', async () => {
    const { pair: { b }, client } = await crossNodeSession();
    await redis.kill('SIGSTOP');
    try {
      await eventually(() => b.relay.metrics.cluster.deafSubscriber >= 1, 5000, 'deaf subscriber noticed');
      await client.control('internal_error');
      expect((await fetch(`${b.relay.url}/healthz`)).status).toBe(503);
    } finally {
      await redis.kill('SIGCONT');
    }
    await eventually(() => b.relay.metrics.render().includes('sbrp_relay_cluster_subscriber_healthy 1'), 10_000, 'healthy again');
    expect((await fetch(`${b.relay.url}/healthz`)).status).toBe(200);
  });
});
