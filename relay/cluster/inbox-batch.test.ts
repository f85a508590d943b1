/**
 * Batched inbox messages between real relay processes on a private redis-server: a burst of
 * client frames leaves the edge as a few PUBLISHes and arrives whole and in order; hostile batch
 * containers published straight onto an owner's inbox are dropped and counted, and the session
 * that shares the inbox keeps flowing.
 */
import type { Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { FrameType } from '../../protocol/codes.js';
import { encodeFrame } from '../../protocol/frame-codec.js';
import { handshakeInitFrame } from '../../protocol/frames.js';
import { startClusterFixture, type ClusterFixture, type TestDaemonReg } from '../../test/cluster/cluster-fixture.js';
import { numberedData, range, receiveNumbered } from '../../test/cluster/frames.js';
import type { TestPeer } from '../testing/harness.js';
import { describeWithRedis } from '../testing/redis-gate.js';
import { encodeBatch, MAX_BATCH_BYTES } from './envelope-batch.js';
import { encodeEnvelope, EnvelopeType } from './envelope-codec.js';
import { RedisKeys } from './redis-keys.js';

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\d+)$`, 'm').exec(text)?.[1];
  if (value === undefined) throw new Error(`no ${name} in ${url}/metrics`);
  return Number(value);
}

describeWithRedis('cluster: batched inbox messages', () => {
  let fx: ClusterFixture;
  let redis: Redis;
  beforeAll(async () => {
    fx = await startClusterFixture({ nodes: 2 });
    redis = new Redis(fx.redis!.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    await redis.connect();
  });
  afterEach(async () => {
    await fx.closeEach();
  });
  afterAll(async () => {
    redis?.disconnect();
    await fx?.close();
  });
  const A = (): ReturnType<ClusterFixture['node']> => fx.node(0);
  const B = (): ReturnType<ClusterFixture['node']> => fx.node(1);

  /** A raw daemon on A and a raw client on B with one handshaken session. */
  async function session(reg: TestDaemonReg): Promise<{ daemon: TestPeer; client: TestPeer; sid: bigint }> {
    const daemon = await fx.peer(A(), await fx.presenceToken(reg, true, A()));
    const issued = await fx.sessionToken(reg, B());
    const client = await fx.peer(B(), issued.token);
    client.send(handshakeInitFrame(issued.sessionId, new Uint8Array(32).fill(1)));
    await daemon.next((f) => f.type === FrameType.HandshakeInit, 5000, 'HandshakeInit at the daemon');
    daemon.send(encodeFrame(FrameType.HandshakeAccept, issued.sessionId, new Uint8Array(128).fill(3)));
    await client.next((f) => f.type === FrameType.HandshakeAccept, 5000, 'HandshakeAccept at the client');
    return { daemon, client, sid: issued.sessionId };
  }

  it('a burst of client frames crosses as a few batched PUBLISHes, whole and in order', async () => {
    const { daemon, client, sid } = await session(await fx.registerDaemon());
    const frames = 'sbrp_relay_cluster_frames_total{direction="sent"}';
    const publishes = 'sbrp_relay_cluster_inbox_publishes_total';
    const [framesBefore, publishesBefore] = [await metric(B().url, frames), await metric(B().url, publishes)];
    // One TCP write, so the edge reads the burst in one turn and its envelopes leave together.
    const socket = (client.ws as unknown as { _socket: Socket })._socket;
    socket.cork();
    for (const i of range(300)) client.send(numberedData(sid, i, 28 + (i % 7) * 10));
    socket.uncork();
    expect(await receiveNumbered(daemon, sid, 300)).toEqual(range(300));
    const sentFrames = (await metric(B().url, frames)) - framesBefore;
    const sentPublishes = (await metric(B().url, publishes)) - publishesBefore;
    expect(sentFrames).toBe(300);
    // 64 envelopes per batch at most: 5 if the burst came in one read; a few more if split.
    expect(sentPublishes).toBeGreaterThanOrEqual(5);
    expect(sentPublishes).toBeLessThan(300 / 4);
  });

  it('drops hostile batches on the inbox with the malformed-envelope count, and the session flows on', async () => {
    const reg = await fx.registerDaemon();
    const { daemon, client, sid } = await session(reg);
    const malformed = 'sbrp_relay_cluster_malformed_envelopes_total';
    const before = await metric(A().url, malformed);
    // Well-formed envelopes of a session that does not exist here, so nothing valid has an effect.
    const part = (seq: number): Buffer => encodeEnvelope({ type: EnvelopeType.credit, node: B().nodeId, did: reg.daemonId, epoch: 1n, sid: 99n, seq, code: 2 });
    const good = encodeBatch([part(1), part(2)]);
    const truncated = good.subarray(0, good.length - 3);
    const countLies = Buffer.from(good);
    countLies.writeUInt16BE(3, 2);
    const lengthLies = Buffer.from(good);
    lengthLies.writeUInt32BE(0xffff_fff0, 4);
    const oversize = Buffer.alloc(MAX_BATCH_BYTES + 1);
    good.copy(oversize);
    const nested = encodeBatch([good, part(3)]); // the inner batch is refused, part(3) is not malformed
    const badPart = encodeBatch([part(4), Buffer.concat([part(5).subarray(0, 10), Buffer.alloc(30)])]);
    const inbox = RedisKeys.inbox(A().nodeId);
    for (const message of [truncated, countLies, lengthLies, oversize, nested, badPart]) await redis.publish(inbox, message);
    // Published after the hostile messages on the same inbox, so read after them.
    for (const i of range(20)) client.send(numberedData(sid, i));
    expect(await receiveNumbered(daemon, sid, 20)).toEqual(range(20));
    // 4 refused containers + the nested batch + the one bad part.
    expect((await metric(A().url, malformed)) - before).toBe(6);
    expect(await metric(A().url, 'sbrp_relay_cluster_subscriber_healthy')).toBe(1);
  });
});
