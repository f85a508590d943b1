/**
 * Acknowledges consumed channel messages in batches of `batch`, so a busy channel costs one
 * `channel-ack` per batch instead of one per message. No timer is needed for liveness as long
 * as `batch` is below the worker's window: the worker only stops when a window's worth is
 * unacknowledged, and then at least `window - batch + 1` of those are still waiting in the
 * page to be consumed, and consuming them reaches the batch.
 *
 * @example
 *   const acks = new AckBatcher(16, (count) => port.postMessage({ type: 'channel-ack', id, count }));
 *   acks.consumed(); // after each message the app took
 */
export class AckBatcher {
  private pending = 0;

  constructor(
    private readonly batch: number,
    private readonly send: (count: number) => void,
  ) {}

  consumed(): void {
    if (++this.pending >= this.batch) this.flush();
  }

  flush(): void {
    if (this.pending === 0) return;
    const count = this.pending;
    this.pending = 0;
    this.send(count);
  }
}
