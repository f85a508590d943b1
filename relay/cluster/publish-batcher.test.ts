import { once } from 'node:events';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FrameType } from '../../protocol/codes.js';
import { encodeFrame } from '../../protocol/frame-codec.js';
import { describeWithRedis } from '../testing/redis-gate.js';
import { startRedisServer, type RedisServer } from '../testing/redis-server.js';
import { isBatch, MAX_BATCH_ENVELOPES, splitBatch } from './envelope-batch.js';
import { decodeEnvelope, encodeEnvelope, EnvelopeType } from './envelope-codec.js';
import { PublishBatcher, type FlushTiming } from './publish-batcher.js';

/** The batcher on a real redis-server: what one PUBLISH carries, in which order, and loss. */

const frameOf = (size: number): Uint8Array => encodeFrame(FrameType.Data, 7n, new Uint8Array(size));
const envelope = (seq: number, size = 40): Buffer => encodeEnvelope({ type: EnvelopeType.clientFrame, node: 'n1', did: 'dmn_abc', epoch: 5n, sid: 7n, seq, code: 0, payload: frameOf(size) });

/** The hop seqs a list of inbox messages carries, batches unpacked, in order. */
function seqs(messages: Buffer[]): number[] {
  return messages.flatMap((m) => (isBatch(m) ? splitBatch(m) : [m])).map((e) => decodeEnvelope(e).seq);
}

describeWithRedis('publish batcher', () => {
  let redis: RedisServer;
  let publisher: Redis;
  let subscriber: Redis;
  /** Messages per channel, in arrival order. */
  const inbox = new Map<string, Buffer[]>();

  beforeAll(async () => {
    redis = await startRedisServer();
    publisher = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true });
    subscriber = new Redis(redis.url);
    subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      const name = channel.toString();
      inbox.set(name, [...(inbox.get(name) ?? []), message]);
      subscriber.emit(`got:${name}`);
    });
    await subscriber.subscribe('a', 'b', 'c');
    await publisher.connect();
  });

  afterAll(async () => {
    publisher?.disconnect();
    subscriber?.disconnect();
    await redis?.stop();
  });

  function batcher(options: { flush?: FlushTiming; maxNodes?: number; failed?: (tag: number) => void } = {}): PublishBatcher<number> {
    return new PublishBatcher<number>({ publish: (node, message) => publisher.publish(node, message), failed: options.failed ?? (() => {}), ...options });
  }

  /** Waits until `channel` holds `count` messages, then returns and forgets them. */
  async function received(channel: string, count: number): Promise<Buffer[]> {
    while ((inbox.get(channel)?.length ?? 0) < count) await once(subscriber, `got:${channel}`);
    const messages = inbox.get(channel)!;
    inbox.delete(channel);
    return messages;
  }

  for (const flush of ['nextTick', 'setImmediate'] as const) {
    it(`sends one turn's envelopes for a node as one message (${flush}), full batches at once, in order`, async () => {
      const b = batcher({ flush });
      const count = 2 * MAX_BATCH_ENVELOPES + 2;
      for (let seq = 0; seq < count; seq++) b.send('a', envelope(seq), seq);
      b.send('b', envelope(0), 0);
      // The two full batches are already on their way; the rest waits for the flush.
      expect(b.queued).toBe(3);
      const messages = await received('a', 3);
      expect(messages.map((m) => (isBatch(m) ? splitBatch(m).length : 1))).toEqual([MAX_BATCH_ENVELOPES, MAX_BATCH_ENVELOPES, 2]);
      expect(seqs(messages)).toEqual(Array.from({ length: count }, (_, i) => i));
      const [lone] = await received('b', 1);
      expect(isBatch(lone!)).toBe(false); // a lone envelope goes bare
      expect(b.queued).toBe(0);
    });
  }

  it('starts a new message before one would exceed the byte limit', async () => {
    const b = batcher();
    for (let seq = 0; seq < 5; seq++) b.send('a', envelope(seq, 65536), seq);
    const messages = await received('a', 2);
    expect(messages.map((m) => splitBatch(m).length)).toEqual([3, 2]);
    expect(messages.every((m) => m.length <= 256 * 1024)).toBe(true);
    expect(seqs(messages)).toEqual([0, 1, 2, 3, 4]);
  });

  it('flushes everything pending when one more destination would pass maxNodes', async () => {
    const b = batcher({ maxNodes: 2 });
    b.send('a', envelope(0), 0);
    b.send('b', envelope(1), 1);
    expect(b.queued).toBe(2);
    b.send('c', envelope(2), 2);
    expect(b.queued).toBe(1);
    expect(seqs([...(await received('a', 1)), ...(await received('b', 1)), ...(await received('c', 1))])).toEqual([0, 1, 2]);
  });

  it('reports every envelope of a message Redis did not take, in order (closed connection)', async () => {
    const closed = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true });
    closed.on('error', () => {});
    const lost: number[] = [];
    const done = once(subscriber, 'lost-closed');
    const b = new PublishBatcher<number>({
      publish: (node, message) => closed.publish(node, message),
      failed: (tag) => {
        lost.push(tag);
        if (lost.length === 70) subscriber.emit('lost-closed');
      },
    });
    // 64 + 6: two messages, both refused.
    for (let seq = 0; seq < 70; seq++) b.send('a', envelope(seq), seq);
    await done;
    expect(lost).toEqual(Array.from({ length: 70 }, (_, i) => i));
    closed.disconnect();
  });

  it('refuses limits the receiver would not accept', () => {
    expect(() => new PublishBatcher({ publish: async () => {}, failed: () => {}, maxEnvelopes: MAX_BATCH_ENVELOPES + 1 })).toThrow(RangeError);
    expect(() => new PublishBatcher({ publish: async () => {}, failed: () => {}, maxBytes: 256 * 1024 + 1 })).toThrow(RangeError);
  });
});
