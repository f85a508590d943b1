import type { SidebandStatus } from '../sw/messages.js';

/**
 * The latest status, and whether a new one is news. The same status reaches a page several
 * times (BroadcastChannel, client postMessage, the Reply to its own hello); listeners hear
 * each distinct status once. Equal means equal JSON: the worker builds every status the same
 * way, so key order is stable.
 *
 * @example
 *   if (tracker.update(status)) emit(status);
 */
export class StatusTracker {
  private latest?: SidebandStatus;
  private key?: string;

  get current(): SidebandStatus | undefined {
    return this.latest;
  }

  /** True when `status` differs from the current one, which it then replaces. */
  update(status: SidebandStatus): boolean {
    const key = JSON.stringify(status);
    if (key === this.key) return false;
    this.key = key;
    this.latest = status;
    return true;
  }
}
