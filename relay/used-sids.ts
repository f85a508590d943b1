/**
 * SessionIDs whose token already opened a connection. sbrp.md §5 has the client fetch a new
 * token with a new `sid` for every attempt, so the relay treats a `sid` as single-use until its
 * token has expired: a replayed token gets 409 like a live duplicate. Bounded: past `max`
 * entries the oldest is forgotten (its token is the closest to expiry anyway).
 */
export class UsedSids {
  private readonly max: number;
  /** sid → epoch ms after which the token carrying it can no longer be accepted. */
  private readonly entries = new Map<bigint, number>();

  constructor(max: number) {
    this.max = max;
  }

  remember(sid: bigint, untilMs: number): void {
    this.entries.delete(sid);
    if (this.entries.size >= this.max) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(sid, untilMs);
  }

  has(sid: bigint, nowMs: number): boolean {
    const until = this.entries.get(sid);
    if (until === undefined) return false;
    if (until > nowMs) return true;
    this.entries.delete(sid);
    return false;
  }

  /** Drops expired entries from the front (insertion order is close to expiry order). */
  prune(nowMs: number): void {
    for (const [sid, until] of this.entries) {
      if (until > nowMs) break;
      this.entries.delete(sid);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
