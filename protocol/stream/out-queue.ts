import { InnerKind } from './stream-codes.js';
import type { MuxStream } from './mux-stream.js';

// Reading body bytes off a stream's outbound queue for the scheduler (mux.ts): a DATA frame,
// or a head's inline body, is cut from the DATA items at the front of the queue, across item
// boundaries, either copied into the frame or handed on as views of the items.

/** Bytes of the DATA items at the front of the stream's queue, counted up to `max`. */
export function queuedData(stream: MuxStream, max = Infinity): number {
  let bytes = 0;
  for (const item of stream.outQueue) {
    if (item.kind !== InnerKind.DATA || bytes >= max) break;
    bytes += item.bytes.length;
  }
  return bytes;
}

/** Moves exactly `out.length` bytes from the front DATA items of the queue into `out`. */
export function takeData(stream: MuxStream, out: Uint8Array): void {
  let filled = 0;
  while (filled < out.length) {
    const item = stream.outQueue[0]!;
    const n = Math.min(item.bytes.length, out.length - filled);
    out.set(n === item.bytes.length ? item.bytes : item.bytes.subarray(0, n), filled);
    filled += n;
    if (n === item.bytes.length) stream.outQueue.shift();
    else item.bytes = item.bytes.subarray(n);
  }
  stream.outBytes -= out.length;
}

/** Removes exactly `n` bytes from the front DATA items of the queue, appending views of those items to `views`. */
export function takeDataViews(stream: MuxStream, n: number, views: Uint8Array[]): Uint8Array[] {
  let taken = 0;
  while (taken < n) {
    const item = stream.outQueue[0]!;
    const k = Math.min(item.bytes.length, n - taken);
    if (k === item.bytes.length) {
      views.push(item.bytes);
      stream.outQueue.shift();
    } else {
      views.push(item.bytes.subarray(0, k));
      item.bytes = item.bytes.subarray(k);
    }
    taken += k;
  }
  stream.outBytes -= n;
  return views;
}
