/**
 * Issue 10, "Done when": the scenarios that pass on one node pass with client and daemon on
 * different nodes. The relay's lifecycle scenarios (relay/session-lifecycle.test.ts) and the
 * HTTP lifecycle scenarios (test/e2e-http-lifecycle.test.ts), run unchanged over topologies of
 * real relay processes: one node without Redis; daemon on node 1 and client on node 2, the
 * daemon coming back through node 1, node 0 or the client's node; and a local session whose
 * daemon comes back through another node.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FrameType, SignalCode, SignalReason } from '../../protocol/codes.js';
import { encodeFrame } from '../../protocol/frame-codec.js';
import { handshakeInitFrame, pingFrame, signalFrame } from '../../protocol/frames.js';
import { FAST_CLUSTER_TIMERS, type ClusterNode } from '../../relay/testing/cluster.js';
import { lifecycleHandler as handler } from '../helpers/http-fixture.js';
import { expectCutDownloadIntactOrClosed } from '../helpers/cut-download.js';
import { checkNoLeakedHandles } from '../helpers/leak-check.js';
import { startTamperProxy } from '../helpers/tamper-proxy.js';
import { waitFor } from '../helpers/wait.js';
import { startClusterFixture, type ClusterFixture, type ClusterFixtureOptions } from './cluster-fixture.js';
import { numberedData, range, receiveNumbered } from './frames.js';
import { describeWithRedis } from '../../relay/testing/redis-gate.js';

const GRACE_S = 2;

interface Topology {
  name: string;
  options: ClusterFixtureOptions;
  /** Node indexes: where the daemon first connects, where clients connect, where the daemon comes back. */
  daemon: number;
  client: number;
  back: number;
}

const SINGLE: ClusterFixtureOptions = { nodes: 1, backplane: 'memory', timers: { grace: String(GRACE_S) } };
const THREE: ClusterFixtureOptions = { timers: { ...FAST_CLUSTER_TIMERS, grace: String(GRACE_S) } };

/** The last two move a session between local and cross-node when the daemon comes back. */
const TOPOLOGIES: Topology[] = [
  { name: 'one node, memory backplane', options: SINGLE, daemon: 0, client: 0, back: 0 },
  { name: 'daemon on node 1, client on node 2', options: THREE, daemon: 1, client: 2, back: 1 },
  { name: 'daemon on node 1, client on node 2, daemon back via node 0', options: THREE, daemon: 1, client: 2, back: 0 },
  { name: 'daemon on node 1, client on node 2, daemon back via the client’s node', options: THREE, daemon: 1, client: 2, back: 2 },
  { name: 'daemon and client on node 1, daemon back via node 2', options: THREE, daemon: 1, client: 1, back: 2 },
];

/** One cluster per options object, shared by the topologies that use it (tests register their own daemons). */
const clusters = new Map<ClusterFixtureOptions, Promise<ClusterFixture>>();
const clusterFor = (options: ClusterFixtureOptions): Promise<ClusterFixture> => {
  let started = clusters.get(options);
  if (!started) clusters.set(options, (started = startClusterFixture(options)));
  return started;
};

describeWithRedis('lifecycle scenarios over topologies', () => {
  checkNoLeakedHandles();
  afterAll(async () => {
    const started = await Promise.allSettled(clusters.values());
    await Promise.all(started.map((r) => (r.status === 'fulfilled' ? r.value.close() : undefined)));
    clusters.clear();
  });
  for (const topology of TOPOLOGIES) {
    describe(topology.name, () => {
      let fx: ClusterFixture;
      let daemonAt: ClusterNode;
      let clientAt: ClusterNode;
      let backAt: ClusterNode;
      beforeAll(async () => {
        fx = await clusterFor(topology.options);
        daemonAt = fx.node(topology.daemon);
        clientAt = fx.node(topology.client);
        backAt = fx.node(topology.back);
      });
      afterEach(async () => {
        await fx.closeEach();
      });

      const onlineDaemon = async (resume = true) => {
        const reg = await fx.registerDaemon();
        return { reg, peer: await fx.peer(daemonAt, await fx.presenceToken(reg, resume)) };
      };
      const openClient = async (reg: Awaited<ReturnType<typeof onlineDaemon>>['reg']) => {
        const { token, sessionId } = await fx.sessionToken(reg);
        return { peer: await fx.peer(clientAt, token), sessionId };
      };
      /** A session whose daemon dropped (session_paused) and came back at `backAt` resuming (session_pending). */
      const pendingSession = async () => {
        const daemon = await onlineDaemon();
        const c = await openClient(daemon.reg);
        daemon.peer.ws.close();
        await c.peer.control('session_paused', c.sessionId, 5000);
        const back = await fx.peer(backAt, await fx.presenceToken(daemon.reg, true));
        await c.peer.control('session_pending', c.sessionId, 5000);
        return { daemon, c, back };
      };
      const data = (sid: bigint, fill: number): Uint8Array => encodeFrame(FrameType.Data, sid, new Uint8Array(40).fill(fill));

      it('forwards client frames unchanged to the daemon and daemon frames to the right client', async () => {
        const daemon = await onlineDaemon();
        const a = await openClient(daemon.reg);
        const b = await openClient(daemon.reg);
        a.peer.send(handshakeInitFrame(a.sessionId, new Uint8Array(32).fill(1)));
        const got = await daemon.peer.next((f) => f.type === FrameType.HandshakeInit, 5000);
        expect(got.sessionId).toBe(a.sessionId);
        expect(got.payload).toEqual(new Uint8Array(32).fill(1));
        daemon.peer.send(data(b.sessionId, 9));
        expect((await b.peer.next((f) => f.type === FrameType.Data, 5000)).payload).toEqual(new Uint8Array(40).fill(9));
        daemon.peer.send(encodeFrame(FrameType.HandshakeAccept, a.sessionId, new Uint8Array(128).fill(3)));
        expect((await a.peer.next((f) => f.type === FrameType.HandshakeAccept, 5000)).payload).toEqual(new Uint8Array(128).fill(3));
        // Ordered after the Accept on the same path: had B's Data gone to A, it would be here by now.
        expect(a.peer.frames.filter((f) => f.type === FrameType.Data)).toHaveLength(0);
      });

      it('answers Ping with a Pong carrying the same payload and never forwards it', async () => {
        const daemon = await onlineDaemon();
        const c = await openClient(daemon.reg);
        c.peer.send(pingFrame(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)));
        const pong = await c.peer.next((f) => f.type === FrameType.Pong);
        expect(pong.sessionId).toBe(0n);
        expect(pong.payload).toEqual(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
        c.peer.send(numberedData(c.sessionId, 1)); // a marker behind the Ping on the same path
        await receiveNumbered(daemon.peer, c.sessionId, 1);
        expect(daemon.peer.frames.some((f) => f.type === FrameType.Ping || f.type === FrameType.Pong)).toBe(false);
      });

      it('tells the daemon session_ended when a client leaves', async () => {
        const daemon = await onlineDaemon();
        const c = await openClient(daemon.reg);
        c.peer.ws.close();
        await daemon.peer.control('session_ended', c.sessionId, 5000);
      });

      it('sends daemon_offline for a daemon that is not online', async () => {
        const reg = await fx.registerDaemon();
        const c = await openClient(reg);
        await c.peer.control('daemon_offline', c.sessionId, 5000);
        await c.peer.closedWithin(5000);
      });

      it('pauses sessions when the daemon drops, then pending → resumed on Signal(ready), flushing nothing lost', async () => {
        const daemon = await onlineDaemon();
        const c = await openClient(daemon.reg);
        daemon.peer.ws.close();
        await c.peer.control('session_paused', c.sessionId, 5000);
        for (const i of range(5)) c.peer.send(numberedData(c.sessionId, i));
        const back = await fx.peer(backAt, await fx.presenceToken(daemon.reg, true));
        await c.peer.control('session_pending', c.sessionId, 5000);
        back.send(signalFrame(c.sessionId, SignalCode.ready));
        await c.peer.control('session_resumed', c.sessionId, 5000);
        expect(await receiveNumbered(back, c.sessionId, 5)).toEqual(range(5));
        back.send(numberedData(c.sessionId, 42));
        expect(await receiveNumbered(c.peer, c.sessionId, 1)).toEqual([42]);
      });

      it('keeps answering a paused client’s Pings; a session it left is session_not_found (not terminal) for the returning daemon', async () => {
        const daemon = await onlineDaemon();
        const c = await openClient(daemon.reg);
        daemon.peer.ws.close();
        await c.peer.control('session_paused', c.sessionId, 5000);
        c.peer.send(pingFrame(Uint8Array.of(9)));
        expect((await c.peer.next((f) => f.type === FrameType.Pong)).payload).toEqual(Uint8Array.of(9));
        c.peer.ws.close();
        await c.peer.closedWithin();
        const back = await fx.peer(backAt, await fx.presenceToken(daemon.reg, true));
        // The close must have reached the node that tracks the paused session before the Signal.
        await waitFor(async () => {
          back.send(signalFrame(c.sessionId, SignalCode.ready));
          return back.next((f) => f.control === 'session_not_found' && f.sessionId === c.sessionId, 200).then(() => true, () => false);
        }, 'session_not_found for the departed session', 5000);
        expect(back.ws.readyState).toBe(back.ws.OPEN);
      });

      it('expires a pending session on Signal(close, state_lost), with no session_ended echo', async () => {
        const { daemon, c, back } = await pendingSession();
        back.send(signalFrame(c.sessionId, SignalCode.close, SignalReason.state_lost));
        await c.peer.control('session_expired', c.sessionId, 5000);
        await c.peer.closedWithin();
        // A later session's end is reported: the expired one's would have come first.
        const later = await openClient(daemon.reg);
        later.peer.ws.close();
        await back.control('session_ended', later.sessionId, 5000);
        expect(back.controls().filter((x) => x.startsWith('session_ended'))).toEqual([`session_ended:${later.sessionId}`]);
      });

      it('expires sessions at once when the daemon comes back without session:resume', async () => {
        const daemon = await onlineDaemon();
        const c = await openClient(daemon.reg);
        daemon.peer.ws.close();
        await c.peer.control('session_paused', c.sessionId, 5000);
        const started = Date.now();
        await fx.peer(backAt, await fx.presenceToken(daemon.reg, false));
        await c.peer.control('session_expired', c.sessionId, 5000);
        expect(Date.now() - started).toBeLessThan(GRACE_S * 1000);
        await c.peer.closedWithin();
      });

      it('expires paused sessions when the grace period runs out', async () => {
        const daemon = await onlineDaemon();
        const c = await openClient(daemon.reg);
        const started = Date.now();
        daemon.peer.ws.close();
        await c.peer.control('session_paused', c.sessionId, 5000);
        await c.peer.control('session_expired', c.sessionId, GRACE_S * 1000 + 5000);
        expect(Date.now() - started).toBeGreaterThanOrEqual(GRACE_S * 1000 - 50);
        await c.peer.closedWithin();
      });

      it('expires a pending session the daemon never signals; its Data meanwhile is session_not_found (not terminal)', async () => {
        const { c, back } = await pendingSession();
        back.send(data(c.sessionId, 1));
        await back.control('session_not_found', c.sessionId, 5000);
        await c.peer.control('session_expired', c.sessionId, GRACE_S * 1000 + 5000);
        expect(back.ws.readyState).toBe(back.ws.OPEN);
      });

      it('replaces a daemon connection with a newer one (exactly one owner)', async () => {
        const daemon = await onlineDaemon();
        const c = await openClient(daemon.reg);
        const second = await fx.peer(backAt, await fx.presenceToken(daemon.reg, true));
        expect(await daemon.peer.closedWithin(5000)).toBe(4002);
        await c.peer.control('session_paused', c.sessionId, 5000);
        await c.peer.control('session_pending', c.sessionId, 5000);
        second.send(signalFrame(c.sessionId, SignalCode.ready));
        await c.peer.control('session_resumed', c.sessionId, 5000);
        c.peer.send(numberedData(c.sessionId, 5));
        expect(await receiveNumbered(second, c.sessionId, 1)).toEqual([5]);
      });

      it('closes a client on Signal(close) from an active session with session_expired', async () => {
        const daemon = await onlineDaemon();
        const c = await openClient(daemon.reg);
        daemon.peer.send(signalFrame(c.sessionId, SignalCode.close, SignalReason.shutdown));
        await c.peer.control('session_expired', c.sessionId, 5000);
        await c.peer.closedWithin();
      });

      // test/e2e-http-lifecycle.test.ts, with the SDKs.

      it('HTTP: a fetch made before the daemon is online waits for a session', async () => {
        const reg = await fx.registerDaemon();
        const client = fx.client(reg, clientAt);
        const pending = client.fetch('/first');
        await waitFor(() => client.state === 'reconnecting' || client.state === 'connecting', 'the client trying');
        await fx.serve(reg, daemonAt, { fetch: handler });
        expect(await (await pending).json()).toEqual({ ok: true, path: '/first' });
      });

      it('HTTP: a session that ends fails what ran on it; the next request runs on a new session through the node the daemon came back on', async () => {
        const reg = await fx.registerDaemon();
        const first = await fx.serve(reg, daemonAt, { fetch: handler });
        const client = fx.client(reg, clientAt);
        const opened: bigint[] = [];
        client.on('open', ({ sessionId }) => opened.push(sessionId));
        expect((await client.fetch('/one')).status).toBe(200);
        const inFlight = client.fetch('/forever').catch((e: unknown) => e);
        await waitFor(() => first.status.streams === 1, 'the request at the daemon');
        await first.close();
        expect(await inFlight).toMatchObject({ code: 'session_closed' });
        await fx.serve(reg, backAt, { fetch: handler });
        expect(await (await client.fetch('/two')).json()).toEqual({ ok: true, path: '/two' });
        expect(opened).toHaveLength(2);
        expect(opened[0]).not.toBe(opened[1]);
      });

      it("HTTP: the daemon's relay connection cut mid-download ends the session loudly (intact or session_closed, never short); the client carries on", async () => {
        const reg = await fx.registerDaemon();
        const proxy = await startTamperProxy(daemonAt.wsUrl); // only the daemon goes through it
        try {
          await fx.serve(reg, { url: daemonAt.url, wsUrl: proxy.wsUrl }, { fetch: handler });
          const client = fx.client(reg, clientAt);
          const size = 24 * 1024 * 1024;
          const res = await client.fetch(`/bytes?size=${size}`);
          await expectCutDownloadIntactOrClosed(res, size, 3, 4 * 1024 * 1024, () => proxy.dropAll());
          expect(await (await client.fetch('/after')).json()).toEqual({ ok: true, path: '/after' });
        } finally {
          await fx.closeEach();
          await proxy.close();
        }
      });

      it('HTTP: graceful shutdown refuses new streams with GOAWAY and lets open ones finish', async () => {
        const reg = await fx.registerDaemon();
        const server = await fx.serve(reg, daemonAt, { fetch: handler });
        const client = fx.client(reg, clientAt);
        await client.ready();
        const slow = client.fetch('/slow?ms=400');
        await waitFor(() => server.status.streams === 1, 'the slow request at the daemon');
        const stopping = server.shutdown({ timeoutMs: 5_000 });
        await waitFor(async () => {
          const refused = await client.fetch('/new').then(() => undefined, (e: { code?: string }) => e.code);
          return refused === 'going_away' ? refused : undefined;
        }, 'GOAWAY at the client');
        expect(await (await slow).text()).toBe('slow done');
        await stopping;
        expect(server.status.state).toBe('closed');
      });

      it('HTTP: client.close() fails what is in flight, and later calls with closed', async () => {
        const reg = await fx.registerDaemon();
        const server = await fx.serve(reg, daemonAt, { fetch: handler });
        const client = fx.client(reg, clientAt);
        await client.ready();
        const inFlight = client.fetch('/forever').catch((e: unknown) => e);
        await waitFor(() => server.status.streams === 1, 'the request at the daemon');
        await Promise.all([client.close(), client.close()]);
        expect(await inFlight).toMatchObject({ code: 'session_closed' });
        await expect(client.fetch('/x')).rejects.toMatchObject({ code: 'closed' });
      });
    });
  }
});
