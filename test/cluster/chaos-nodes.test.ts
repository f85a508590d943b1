/**
 * Issue 10, failures of whole nodes: the owner node SIGKILLed (clients paused promptly, the daemon
 * reconnects through the balancer to another node, the session resumes), an edge node SIGKILLed
 * (the daemon learns its sessions ended), the owner SIGSTOPped past its lease and continued (it
 * fences itself: its late frames never reach the client, its stale daemon socket is closed).
 * Node 0 is the writer and never killed; a killed node is restarted after its test.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { FrameType, SignalCode } from '../../protocol/codes.js';
import { signalFrame } from '../../protocol/frames.js';
import { FAST_CLUSTER_TIMERS } from '../../relay/testing/cluster.js';
import { patternStream } from '../helpers/http-fixture.js';
import { expectCutDownloadIntactOrClosed } from '../helpers/cut-download.js';
import { checkNoLeakedHandles } from '../helpers/leak-check.js';
import { waitFor } from '../helpers/wait.js';
import { clientEvent, clusterLogs, daemonEvent, startClusterFixture, type ClusterFixture } from './cluster-fixture.js';
import { dataIndex, numberedData, range, receiveNumbered } from './frames.js';
import { describeWithRedis } from '../../relay/testing/redis-gate.js';

/** Owner death noticed within dead-after plus a few heartbeats and process scheduling on a busy 2-core box. */
const PROMPT_MS = Number(FAST_CLUSTER_TIMERS['node-dead-after']) * 1000 + 2500;
/** The daemon notices a silent socket this fast (ping + pong timeout), well under the grace. */
const DAEMON_LIVENESS = { daemonPingIntervalMs: 300, pongTimeoutMs: 600 };

async function handler(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname === '/bytes') return new Response(patternStream(Number(url.searchParams.get('size')), 9, 16 * 1024).stream);
  return Response.json({ path: url.pathname });
}

describeWithRedis('cluster chaos: nodes killed and stopped', () => {
  checkNoLeakedHandles();
  let fx: ClusterFixture;
  beforeAll(async () => {
    fx = await startClusterFixture();
  });
  afterEach(async () => {
    await fx.closeEach();
    fx.balancer.route(fx.cluster.nodes.map((n) => n.port));
    for (const node of fx.cluster.nodes) if (!node.running) await node.restart();
    await fx.node(1).kill('SIGCONT');
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('owner node SIGKILLed: the client is paused promptly, the daemon reconnects via another node and the same session resumes', async () => {
    const reg = await fx.registerDaemon();
    fx.balancer.route([fx.node(1).port, fx.node(0).port, fx.node(2).port]);
    const server = await fx.serve(reg, fx.balancer, { fetch: handler });
    const client = fx.client(reg, fx.node(2));
    expect((await client.fetch('/before')).status).toBe(200);
    const sessionId = client.sessionId;
    const paused = clientEvent(client, 'paused', 10_000);
    const resumed = clientEvent(client, 'resumed', 15_000);
    const killedAt = Date.now();
    await fx.node(1).kill('SIGKILL');
    await paused.catch((error: Error) => {
      throw new Error(`${error.message}; client state ${client.state}\n${clusterLogs(fx.cluster)}`);
    });
    const pausedAfter = Date.now() - killedAt;
    expect(pausedAfter, 'client paused promptly').toBeLessThan(PROMPT_MS);
    await waitFor(() => server.status.state === 'connected', 'the daemon connected through another node');
    await resumed.catch((error: Error) => {
      throw new Error(`${error.message}; client state ${client.state}, session ${client.sessionId} (was ${sessionId})\n${clusterLogs(fx.cluster)}`);
    });
    expect(client.sessionId).toBe(sessionId);
    expect(await (await client.fetch('/after')).json()).toEqual({ path: '/after' });
  });

  it('owner node SIGTERMed (a rolling restart): the client is paused, the daemon moves to another node, the session resumes; the node rejoins', async () => {
    const reg = await fx.registerDaemon();
    fx.balancer.route([fx.node(1).port, fx.node(0).port]);
    const server = await fx.serve(reg, fx.balancer, { fetch: handler });
    const client = fx.client(reg, fx.node(2));
    expect((await client.fetch('/before')).status).toBe(200);
    const sessionId = client.sessionId;
    const paused = clientEvent(client, 'paused', PROMPT_MS);
    const resumed = clientEvent(client, 'resumed', PROMPT_MS + 10_000);
    await fx.node(1).stop();
    await paused;
    await resumed.catch((error: Error) => {
      throw new Error(`${error.message}; client state ${client.state}\n${clusterLogs(fx.cluster)}`);
    });
    expect(client.sessionId).toBe(sessionId);
    expect(server.status.state).toBe('connected');
    await fx.node(1).restart();
    expect(await (await client.fetch('/after')).json()).toEqual({ path: '/after' });
  });

  it('takeover on another node: after session_paused the client gets no frame from the replaced daemon connection, only the new one’s', async () => {
    const reg = await fx.registerDaemon();
    const { daemon: old, client, sessionId } = await fx.rawSession(reg, fx.node(1), fx.node(2));
    // The old connection streams until it is closed; the new one connects in the middle.
    let next = 0;
    const stream = setInterval(() => {
      if (old.ws.readyState !== old.ws.OPEN) return clearInterval(stream);
      for (let i = 0; i < 20; i++) old.send(numberedData(sessionId, next++));
    }, 1);
    try {
      await waitFor(() => client.frames.filter((f) => f.type === FrameType.Data).length >= 100, 'the old stream flowing');
      const fresh = await fx.peer(fx.node(0), await fx.presenceToken(reg));
      await client.control('session_paused', sessionId, 5000);
      expect(await old.closedWithin(5000)).toBe(4002);
      await client.control('session_pending', sessionId, 5000);
      fresh.send(signalFrame(sessionId, SignalCode.ready));
      await client.control('session_resumed', sessionId, 5000);
      for (const i of range(5, 1_000_000)) fresh.send(numberedData(sessionId, i));
      await waitFor(() => client.frames.filter((f) => f.type === FrameType.Data && dataIndex(f) >= 1_000_000).length === 5, 'the new connection’s frames');
    } finally {
      clearInterval(stream);
    }
    const pausedAt = client.frames.findIndex((f) => f.control === 'session_paused');
    const data = client.frames.map((f, at) => ({ f, at })).filter(({ f }) => f.type === FrameType.Data);
    const before = data.filter(({ at }) => at < pausedAt).map(({ f }) => dataIndex(f));
    const after = data.filter(({ at }) => at > pausedAt).map(({ f }) => dataIndex(f));
    expect(before, 'the old connection’s frames before the pause: in order, no gap').toEqual(range(before.length));
    expect(after, 'after the pause only the new owner’s frames').toEqual(range(5, 1_000_000));
  });

  it('a client arriving right after the owner node died (its lease not yet expired) is told so, never left hanging', async () => {
    const reg = await fx.registerDaemon();
    await fx.peer(fx.node(1), await fx.presenceToken(reg)); // a daemon that will not come back
    await fx.node(1).kill('SIGKILL');
    const { token, sessionId } = await fx.sessionToken(reg);
    const result = await fx.openPeer(fx.node(2), token);
    if (!result.ok) throw new Error(`upgrade refused: ${result.status} ${result.body}`);
    const client = result.peer;
    const first = await client.next((f) => f.type === FrameType.Control, PROMPT_MS, 'a Control frame').catch((error: Error) => {
      throw new Error(`${error.message}\n${clusterLogs(fx.cluster)}`);
    });
    expect(['daemon_offline', 'session_paused'], `${first.control}`).toContain(first.control);
    if (first.control === 'session_paused') await client.control('session_expired', sessionId, Number(FAST_CLUSTER_TIMERS.grace) * 1000 + 5000);
    await client.closedWithin(5000);
  });

  it('edge node SIGKILLed: the daemon on another node learns the session ended', async () => {
    const reg = await fx.registerDaemon();
    const server = await fx.serve(reg, fx.node(1), { fetch: handler });
    const client = fx.client(reg, fx.node(2), { reconnect: { maxDelayMs: 60_000, minDelayMs: 60_000 } });
    expect((await client.fetch('/hello')).status).toBe(200);
    const sessionId = client.sessionId!;
    const ended = daemonEvent(server, 'session_closed', PROMPT_MS + 2000, (e) => e.sessionId === sessionId);
    await fx.node(2).kill('SIGKILL');
    const event = await ended.catch((error: Error) => {
      throw new Error(`${error.message}; daemon sessions ${server.status.sessions}\n${clusterLogs(fx.cluster)}`);
    });
    expect(event.reason).toBe('ended');
    expect(server.status.state).toBe('connected'); // only that session, never the daemon's connection
  });

  it('a download in flight when its owner node is SIGKILLed is intact or fails with a code, never short', async () => {
    const reg = await fx.registerDaemon();
    fx.balancer.route([fx.node(1).port, fx.node(0).port]);
    await fx.serve(reg, fx.balancer, { fetch: handler, reconnect: { ...DAEMON_LIVENESS, minDelayMs: 20, maxDelayMs: 200, jitter: 'none' } });
    const client = fx.client(reg, fx.node(2));
    const size = 32 * 1024 * 1024;
    const res = await client.fetch(`/bytes?size=${size}`);
    await expectCutDownloadIntactOrClosed(res, size, 9, 2 * 1024 * 1024, () => void fx.node(1).kill('SIGKILL'));
    expect((await client.fetch('/after')).status).toBe(200);
  });

  it('writer SIGKILLed: open cross-node sessions carry on, the control-plane API answers 502 on followers; the restarted writer serves again', async () => {
    const reg = await fx.registerDaemon();
    const { daemon, client, sessionId } = await fx.rawSession(reg, fx.node(1), fx.node(2));

    await fx.node(0).kill('SIGKILL');
    for (const i of range(10, 1)) client.send(numberedData(sessionId, i));
    expect(await receiveNumbered(daemon, sessionId, 10)).toEqual(range(10, 1));
    daemon.send(numberedData(sessionId, 77));
    expect(await receiveNumbered(client, sessionId, 1)).toEqual([77]);
    const refused = await fetch(`${fx.node(2).url}/v1/tokens/session`, {
      method: 'POST', headers: { authorization: `Bearer ${reg.apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ daemonId: reg.daemonId }),
    });
    expect(refused.status).toBe(502);
    expect(await refused.json()).toMatchObject({ error: { code: 'control_plane_unavailable' } });

    await fx.node(0).restart();
    const next = await fx.sessionToken(reg, fx.node(2)); // the same daemon and API key: the writer's SQLite store survived
    const again = await fx.peer(fx.node(2), next.token);
    again.send(numberedData(next.sessionId, 5));
    expect(await receiveNumbered(daemon, next.sessionId, 1)).toEqual([5]);
  });

  it('owner SIGSTOPped past its lease, then continued: it fences itself, its late frames never reach the client, the new owner carries the session', async () => {
    const reg = await fx.registerDaemon();
    const { daemon: stale, client, sessionId } = await fx.rawSession(reg, fx.node(1), fx.node(2), { echo: true });

    await fx.node(1).kill('SIGSTOP');
    // Written while node 1 is stopped: these sit in its socket buffer and are read late.
    for (const i of range(20, 1000)) stale.send(numberedData(sessionId, i));
    await client.control('session_paused', sessionId, PROMPT_MS).catch((error: Error) => {
      throw new Error(`${error.message}\n${clusterLogs(fx.cluster)}`);
    });
    const fresh = await fx.peer(fx.node(0), await fx.presenceToken(reg));
    await client.control('session_pending', sessionId, 5000);
    fresh.send(signalFrame(sessionId, SignalCode.ready));
    await client.control('session_resumed', sessionId, 5000);

    await fx.node(1).kill('SIGCONT');
    await stale.closedWithin(5000).catch((error: Error) => {
      throw new Error(`stale daemon socket on the fenced node stayed open: ${error.message}\n${clusterLogs(fx.cluster)}`);
    });
    for (const i of range(5, 1)) fresh.send(numberedData(sessionId, i));
    const after = await receiveNumbered(client, sessionId, 5);
    expect(after, 'only the new owner’s frames, in order').toEqual(range(5, 1));
    const late = client.frames.filter((f) => f.type === FrameType.Data && dataIndex(f) >= 1000);
    expect(late, 'frames the fenced node read late were dropped').toEqual([]);
    const metrics = await (await fetch(`${fx.node(1).url}/metrics`)).text();
    expect(metrics).toMatch(/sbrp_relay_cluster_owned_daemons 0/);
  });
});
