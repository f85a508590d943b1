import { BATCH_HEADER_LENGTH, BATCH_PART_OVERHEAD, encodeBatch, MAX_BATCH_BYTES, MAX_BATCH_ENVELOPES } from './envelope-batch.js';

/**
 * When a node's pending envelopes go out if no batch filled up first. `nextTick` (default): after
 * the socket read that produced them. In the cluster bench `setImmediate` gathered no more per
 * batch (about 6 of 64 in flight either way) and costs a turn of latency, so it is not the default.
 */
export type FlushTiming = 'nextTick' | 'setImmediate';

export interface PublishBatcherOptions<T> {
  /** One PUBLISH to a node; rejects when Redis did not take it. */
  publish(node: string, message: Buffer): Promise<unknown>;
  /** Called once per envelope of a message Redis did not take, in the order they were sent. */
  failed(tag: T): void;
  /** Envelopes per message at most (≤ MAX_BATCH_ENVELOPES). */
  maxEnvelopes?: number;
  /** Bytes per message at most (≤ MAX_BATCH_BYTES). */
  maxBytes?: number;
  /** Distinct nodes with pending envelopes at most; one more flushes them all first. */
  maxNodes?: number;
  flush?: FlushTiming;
}

interface Pending<T> {
  envelopes: Uint8Array[];
  tags: T[];
  bytes: number;
}

export const BATCHER_DEFAULTS = { maxEnvelopes: MAX_BATCH_ENVELOPES, maxBytes: MAX_BATCH_BYTES, maxNodes: 256, flush: 'nextTick' as FlushTiming };

/**
 * Coalesces the envelopes a node sends to the same node within one event-loop turn into one
 * PUBLISH (envelope-batch.ts): Redis' cost is per message, not per byte. Order per destination
 * holds because a destination's envelopes are queued in send order and every message leaves on
 * the one publish connection in flush order; a full batch leaves at once, before the next
 * envelope is queued. Loss stays per envelope: a message Redis refused reports every envelope in
 * it through `failed`, exactly as if each had been refused alone. A lone envelope goes out bare.
 *
 * Pending memory is bounded by maxNodes × maxBytes.
 *
 *   const batcher = new PublishBatcher<Sent>({ publish: (node, m) => pub.publish(inbox(node), m), failed: endSession });
 *   batcher.send('node-b', encodeEnvelope(e), { sid: e.sid }); // leaves with this turn's others
 */
export class PublishBatcher<T> {
  private readonly o: Required<PublishBatcherOptions<T>>;
  private readonly pending = new Map<string, Pending<T>>();
  private scheduled = false;
  private readonly flushAll = (): void => {
    this.scheduled = false;
    for (const node of [...this.pending.keys()]) this.flush(node);
  };

  constructor(options: PublishBatcherOptions<T>) {
    this.o = { ...BATCHER_DEFAULTS, ...options };
    if (this.o.maxEnvelopes < 1 || this.o.maxEnvelopes > MAX_BATCH_ENVELOPES) throw new RangeError(`maxEnvelopes must be 1..${MAX_BATCH_ENVELOPES}`);
    if (this.o.maxBytes > MAX_BATCH_BYTES) throw new RangeError(`maxBytes must be at most ${MAX_BATCH_BYTES}`);
  }

  /** Queues one encoded envelope for `node`; it leaves in this turn's flush or sooner. */
  send(node: string, envelope: Uint8Array, tag: T): void {
    const size = BATCH_PART_OVERHEAD + envelope.length;
    let batch = this.pending.get(node);
    if (batch && (batch.envelopes.length >= this.o.maxEnvelopes || batch.bytes + size > this.o.maxBytes)) {
      this.flush(node);
      batch = undefined;
    }
    if (!batch) {
      if (this.pending.size >= this.o.maxNodes) this.flushAll();
      batch = { envelopes: [], tags: [], bytes: BATCH_HEADER_LENGTH };
      this.pending.set(node, batch);
    }
    batch.envelopes.push(envelope);
    batch.tags.push(tag);
    batch.bytes += size;
    if (!this.scheduled) {
      this.scheduled = true;
      if (this.o.flush === 'nextTick') process.nextTick(this.flushAll);
      else setImmediate(this.flushAll);
    }
  }

  /** Envelopes waiting for the flush (all destinations). */
  get queued(): number {
    let n = 0;
    for (const batch of this.pending.values()) n += batch.envelopes.length;
    return n;
  }

  /** Sends what is pending now (close, or a caller that needs it out). */
  flushNow(): void {
    this.flushAll();
  }

  private flush(node: string): void {
    const batch = this.pending.get(node);
    if (!batch) return;
    this.pending.delete(node);
    const { envelopes, tags } = batch;
    const message = envelopes.length === 1 ? Buffer.from(envelopes[0]!.buffer, envelopes[0]!.byteOffset, envelopes[0]!.length) : encodeBatch(envelopes);
    this.o.publish(node, message).catch(() => {
      for (const tag of tags) this.o.failed(tag);
    });
  }
}
