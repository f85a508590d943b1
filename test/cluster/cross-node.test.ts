/**
 * Issue 10, "What users get": a client on node B talks to its daemon on node A with the same
 * semantics as on one node. Node 0 is the control-plane writer, the daemon sits on node 1 (A),
 * the client on node 2 (B); tokens and pairing go through whichever node the peer uses, so the
 * followers' forwarding of the control-plane API is exercised too.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { FrameType, SignalCode, SignalReason } from '../../protocol/codes.js';
import { encodeFrame } from '../../protocol/frame-codec.js';
import { handshakeInitFrame, signalFrame } from '../../protocol/frames.js';
import { generateDeviceKey } from '../../client/device-key.js';
import { deviceTokenSource } from '../../client/device-token-source.js';
import { redeemQuickConnect } from '../../client/pairing.js';
import { createQuickConnect, revokeDevice } from '../../daemon/quick-connect.js';
import { hashBody, patternBytes, patternStream, sha256 } from '../helpers/http-fixture.js';
import { checkNoLeakedHandles } from '../helpers/leak-check.js';
import { waitFor } from '../helpers/wait.js';
import { clusterLogs, startClusterFixture, type ClusterFixture } from './cluster-fixture.js';
import { dataIndex, numberedData, range, receiveNumbered } from './frames.js';
import { describeWithRedis } from '../../relay/testing/redis-gate.js';

const SESSION_LIMIT = 3;

async function handler(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname === '/echo-hash') {
    const { sha256: digest, length } = await hashBody(request.body);
    return Response.json({ sha256: digest, length });
  }
  if (url.pathname === '/bytes') return new Response(patternStream(Number(url.searchParams.get('size')), 7, 16 * 1024).stream);
  return Response.json({ path: url.pathname });
}

describeWithRedis('cluster: client and daemon on different nodes', () => {
  checkNoLeakedHandles();
  let fx: ClusterFixture;
  beforeAll(async () => {
    fx = await startClusterFixture({ relayArgs: ['--max-sessions-per-daemon', String(SESSION_LIMIT), '--quick-connect'] });
  });
  afterEach(async () => {
    await fx.closeEach();
  });
  afterAll(async () => {
    await fx?.close();
  });
  const A = (): ReturnType<ClusterFixture['node']> => fx.node(1);
  const B = (): ReturnType<ClusterFixture['node']> => fx.node(2);

  it('handshake and HTTP both ways: a request body up and a response down, hash-checked', async () => {
    const reg = await fx.registerDaemon();
    await fx.serve(reg, A(), { fetch: handler });
    const client = fx.client(reg, B());
    expect(await (await client.fetch('/hello')).json()).toEqual({ path: '/hello' });
    const upload = patternBytes(3 * 1024 * 1024 + 17, 5);
    const res = await client.fetch('/echo-hash', { method: 'POST', body: upload });
    expect(await res.json(), clusterLogs(fx.cluster)).toEqual({ sha256: sha256(upload), length: upload.length });
    // It really crossed Redis: both nodes count hop frames (and render the cluster metrics).
    for (const node of [A(), B()]) {
      const text = await (await fetch(`${node.url}/metrics`)).text();
      for (const direction of ['sent', 'received']) {
        const count = Number(new RegExp(`^sbrp_relay_cluster_frames_total\\{direction="${direction}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
        expect(count, `node ${node.index} cluster frames ${direction}`).toBeGreaterThan(10);
      }
      expect(text).toMatch(/^sbrp_relay_cluster_redis_up 1$/m);
    }
  });

  it('streams a large body across nodes intact and in order (hundreds of chunks)', async () => {
    const reg = await fx.registerDaemon();
    await fx.serve(reg, A(), { fetch: handler });
    const client = fx.client(reg, B());
    const size = 12 * 1024 * 1024;
    const res = await client.fetch(`/bytes?size=${size}`);
    expect(await hashBody(res.body)).toEqual({ sha256: sha256(patternBytes(size, 7)), length: size });
  });

  it('raw frames: HandshakeInit/Accept unchanged, numbered Data in order both ways, Signal(close) → session_expired, client gone → session_ended', async () => {
    const reg = await fx.registerDaemon();
    const daemon = await fx.peer(A(), await fx.presenceToken(reg, true, A()));
    const first = await fx.sessionToken(reg, B());
    const client = await fx.peer(B(), first.token);
    client.send(handshakeInitFrame(first.sessionId, new Uint8Array(32).fill(1)));
    const init = await daemon.next((f) => f.type === FrameType.HandshakeInit, 5000, 'HandshakeInit at the daemon');
    expect(init.sessionId).toBe(first.sessionId);
    expect(init.payload).toEqual(new Uint8Array(32).fill(1));
    daemon.send(encodeFrame(FrameType.HandshakeAccept, first.sessionId, new Uint8Array(128).fill(3)));
    expect((await client.next((f) => f.type === FrameType.HandshakeAccept)).payload).toEqual(new Uint8Array(128).fill(3));

    for (const i of range(300)) client.send(numberedData(first.sessionId, i, 28 + (i % 7) * 100));
    for (const i of range(300)) daemon.send(numberedData(first.sessionId, i, 28 + (i % 5) * 300));
    expect(await receiveNumbered(daemon, first.sessionId, 300)).toEqual(range(300));
    expect(await receiveNumbered(client, first.sessionId, 300)).toEqual(range(300));

    daemon.send(signalFrame(first.sessionId, SignalCode.close, SignalReason.shutdown));
    await client.control('session_expired', first.sessionId, 5000);
    await client.closedWithin(5000);

    const second = await fx.sessionToken(reg, B());
    const leaving = await fx.peer(B(), second.token);
    leaving.ws.close();
    await daemon.control('session_ended', second.sessionId, 5000);
    expect(daemon.ws.readyState).toBe(daemon.ws.OPEN);
  });

  it('a client on another node that stops reading ends with backpressure; the daemon’s other session keeps flowing meanwhile', async () => {
    const reg = await fx.registerDaemon();
    const daemon = await fx.peer(A(), await fx.presenceToken(reg));
    const slowToken = await fx.sessionToken(reg);
    const slow = await fx.peer(B(), slowToken.token);
    const fastToken = await fx.sessionToken(reg);
    const fast = await fx.peer(fx.node(0), fastToken.token);
    for (const [peer, sid] of [[slow, slowToken.sessionId], [fast, fastToken.sessionId]] as const) {
      peer.send(numberedData(sid, 0));
      expect(await receiveNumbered(daemon, sid, 1)).toEqual([0]);
    }
    slow.ws.pause(); // reads nothing from here on: its node's send buffer fills

    let ended = false;
    void daemon.control('session_ended', slowToken.sessionId, 60_000).then(() => (ended = true), () => {});
    let sent = 0;
    let probe = 0;
    const MAX_FRAMES = 1600; // 100 MiB: far past any buffer on the way
    while (!ended && sent < MAX_FRAMES) {
      for (let i = 0; i < 16; i++) daemon.send(numberedData(slowToken.sessionId, sent++, 65_000));
      await waitFor(() => daemon.ws.bufferedAmount < 2 * 1024 * 1024 || ended, 'the daemon socket draining', 10_000);
      if (sent % 160 === 0) {
        // The other session of the same daemon is not held up by the stuck one.
        daemon.send(numberedData(fastToken.sessionId, ++probe));
        expect(await receiveNumbered(fast, fastToken.sessionId, 1, 5000)).toEqual([probe]);
      }
    }
    expect(ended, `session_ended for the stuck session after ${sent} frames (${(sent * 65_000 / 2 ** 20).toFixed(0)} MiB)\n${clusterLogs(fx.cluster)}`).toBe(true);
    slow.ws.resume();
    await slow.control('backpressure', undefined, 10_000);
    await slow.closedWithin(5000);
    const delivered = slow.frames.filter((f) => f.type === FrameType.Data).map(dataIndex);
    expect(delivered, 'what the slow client got before the end has no gap').toEqual(range(delivered.length));
    daemon.send(numberedData(fastToken.sessionId, ++probe));
    expect(await receiveNumbered(fast, fastToken.sessionId, 1)).toEqual([probe]);
  });

  it('a sid in use, or used before, gets 409 on every other node', async () => {
    const reg = await fx.registerDaemon();
    await fx.peer(A(), await fx.presenceToken(reg));
    const { token } = await fx.sessionToken(reg);
    const live = await fx.peer(B(), token);
    for (const node of [fx.node(0), A()]) expect(await fx.openPeer(node, token)).toMatchObject({ ok: false, status: 409 });
    live.ws.close();
    await live.closedWithin();
    for (const node of [fx.node(0), A(), B()]) expect(await fx.openPeer(node, token)).toMatchObject({ ok: false, status: 409 });
  });

  it(`holds the per-daemon session limit (${SESSION_LIMIT}) across nodes: 429 on any node once reached, room again after one leaves`, async () => {
    const reg = await fx.registerDaemon();
    const daemon = await fx.peer(A(), await fx.presenceToken(reg));
    const peers = [];
    for (const i of range(SESSION_LIMIT)) {
      const { token } = await fx.sessionToken(reg);
      peers.push(await fx.peer(fx.node(i % 3), token));
    }
    for (const node of fx.cluster.nodes) {
      const { token } = await fx.sessionToken(reg);
      expect(await fx.openPeer(node, token), `node ${node.index}`).toMatchObject({ ok: false, status: 429 });
    }
    peers[0]!.ws.close();
    await daemon.control('session_ended', undefined, 5000);
    const { token } = await fx.sessionToken(reg);
    // The slot is freed cluster-wide once the daemon has been told; another node admits at once.
    const admitted = await fx.openPeer(B(), token);
    expect(admitted.ok, JSON.stringify(admitted)).toBe(true);
  });

  it('daemon_offline on any node for a daemon that is online nowhere', async () => {
    const reg = await fx.registerDaemon();
    for (const node of fx.cluster.nodes) {
      const { token, sessionId } = await fx.sessionToken(reg);
      const client = await fx.peer(node, token);
      await client.control('daemon_offline', sessionId, 5000);
      await client.closedWithin(5000);
    }
  });

  it('pause → pending → resumed when the daemon drops from node A and comes back via node 0; frames sent while paused arrive in order', async () => {
    const reg = await fx.registerDaemon();
    const daemon = await fx.peer(A(), await fx.presenceToken(reg));
    const { token, sessionId } = await fx.sessionToken(reg);
    const client = await fx.peer(B(), token);
    daemon.ws.close();
    await client.control('session_paused', sessionId, 5000);
    for (const i of range(20)) client.send(numberedData(sessionId, i));

    const back = await fx.peer(fx.node(0), await fx.presenceToken(reg, true));
    await client.control('session_pending', sessionId, 5000);
    back.send(signalFrame(sessionId, SignalCode.ready));
    await client.control('session_resumed', sessionId, 5000);
    expect(await receiveNumbered(back, sessionId, 20)).toEqual(range(20));
    back.send(numberedData(sessionId, 99));
    expect(await receiveNumbered(client, sessionId, 1)).toEqual([99]);
  });

  it('expires a paused session when the grace runs out, and at once when the daemon returns without session:resume', async () => {
    const reg = await fx.registerDaemon();
    const daemon = await fx.peer(A(), await fx.presenceToken(reg));
    const one = await fx.sessionToken(reg);
    const graceful = await fx.peer(B(), one.token);
    daemon.ws.close();
    await graceful.control('session_paused', one.sessionId, 5000);
    await graceful.control('session_expired', one.sessionId, 15_000);
    await graceful.closedWithin();

    const again = await fx.peer(A(), await fx.presenceToken(reg));
    const two = await fx.sessionToken(reg);
    const client = await fx.peer(B(), two.token);
    again.ws.close();
    await client.control('session_paused', two.sessionId, 5000);
    const started = Date.now();
    await fx.peer(fx.node(0), await fx.presenceToken(reg, false));
    await client.control('session_expired', two.sessionId, 5000);
    expect(Date.now() - started).toBeLessThan(2000); // well before the grace
  });

  it('a revoked device’s open session on a follower node is closed with forbidden', async () => {
    const reg = await fx.registerDaemon();
    await fx.serve(reg, A(), { fetch: handler });
    const { code } = await createQuickConnect({ relay: A().url, apiKey: reg.apiKey });
    const deviceKey = generateDeviceKey();
    const device = await redeemQuickConnect({ relay: B().url, code, deviceKey, label: 'cluster laptop' });
    const issued = await deviceTokenSource(device, deviceKey)();
    const client = await fx.peer(B(), issued.token);
    await revokeDevice({ relay: fx.node(0).url, apiKey: reg.apiKey, deviceId: device.deviceId });
    await client.control('forbidden', 0n, 5000);
    await client.closedWithin();
  });

  it('a Quick Connect code is single use across nodes, also when two nodes redeem it at once', async () => {
    const reg = await fx.registerDaemon();
    await fx.serve(reg, A(), { fetch: handler });
    const { code } = await createQuickConnect({ relay: A().url, apiKey: reg.apiKey });
    const paired = await redeemQuickConnect({ relay: B().url, code, deviceKey: generateDeviceKey() });
    expect(paired.daemonId).toBe(reg.daemonId);
    for (const node of [fx.node(0), A(), B()]) {
      await expect(redeemQuickConnect({ relay: node.url, code, deviceKey: generateDeviceKey() })).rejects.toMatchObject({ code: 'code_not_found' });
    }
    const fresh = await createQuickConnect({ relay: B().url, apiKey: reg.apiKey });
    const race = await Promise.allSettled(fx.cluster.nodes.map((node) => redeemQuickConnect({ relay: node.url, code: fresh.code, deviceKey: generateDeviceKey() })));
    expect(race.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of race) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'code_not_found' });
  });
});
