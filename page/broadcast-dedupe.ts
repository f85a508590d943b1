/** The two paths a worker broadcast reaches a page by. */
export type NoticeSource = 'broadcast-channel' | 'client-message';

interface Unmatched {
  key: string;
  source: NoticeSource;
  at: number;
}

/**
 * The worker sends each status and event twice: on the BroadcastChannel and with
 * `client.postMessage` (only the latter is reliable, service-worker.md "Lifecycle"). This lets
 * exactly one copy through. A message is a duplicate when an identical one arrived from the
 * *other* path recently and is still unmatched; matching one-for-one (not "same as the last")
 * keeps two genuinely equal events in a row, and survives the paths interleaving
 * (A, B on one path, then A, B on the other). Copies only one path delivered simply stay
 * unmatched until they age out. Memory is bounded by `maxEntries`.
 *
 * @example
 *   if (dedupe.accept('client-message', JSON.stringify(message))) handle(message);
 */
export class BroadcastDedupe {
  private readonly unmatched: Unmatched[] = [];

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** True when this copy is the first one: deliver it. */
  accept(source: NoticeSource, key: string): boolean {
    const now = this.now();
    while (this.unmatched.length > 0 && now - this.unmatched[0].at > this.windowMs) this.unmatched.shift();
    const twin = this.unmatched.findIndex((entry) => entry.key === key && entry.source !== source);
    if (twin >= 0) {
      this.unmatched.splice(twin, 1);
      return false;
    }
    if (this.unmatched.length >= this.maxEntries) this.unmatched.shift();
    this.unmatched.push({ key, source, at: now });
    return true;
  }
}

/** A comparable key for a structured-clone message; JSON loses detail only in rare payloads (bytes, BigInt), which then compare equal by type and name. */
export function noticeKey(message: { type: string; name?: string }): string {
  try {
    return JSON.stringify(message);
  } catch {
    return `${message.type}:${message.name ?? ''}`;
  }
}
