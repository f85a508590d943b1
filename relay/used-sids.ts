/**
 * SessionIDs whose token already opened a connection. sbrp.md §5 has the client fetch a new
 * token with a new `sid` for every attempt, so the relay treats a `sid` as single-use until its
 * token has expired: a replayed token gets 409 like a live duplicate. Bounded: past `max`
 * entries the oldest is forgotten (its token is the closest to expiry anyway).
 */
export class UsedSids {
  private readonly max: number;
  /** sid → epoch ms after which the token carrying it can no longer be accepted. */
  private readonly untilBySid = new Map<bigint, number>();

  constructor(max: number) {
    this.max = max;
  }

  remember(sid: bigint, untilMs: number): void {
    this.untilBySid.delete(sid);
    if (this.untilBySid.size >= this.max) {
      const oldest = this.untilBySid.keys().next().value;
      if (oldest !== undefined) this.untilBySid.delete(oldest);
    }
    this.untilBySid.set(sid, untilMs);
  }

  has(sid: bigint, nowMs: number): boolean {
    const until = this.untilBySid.get(sid);
    if (until === undefined) return false;
    if (until > nowMs) return true;
    this.untilBySid.delete(sid);
    return false;
  }

  /** Drops expired entries from the front (insertion order is close to expiry order). */
  prune(nowMs: number): void {
    for (const [sid, until] of this.untilBySid) {
      if (until > nowMs) break;
      this.untilBySid.delete(sid);
    }
  }

  /** Every remembered sid with the epoch ms it is remembered until (cluster: re-written to an emptied Redis). */
  entries(): IterableIterator<[bigint, number]> {
    return this.untilBySid.entries();
  }

  get size(): number {
    return this.untilBySid.size;
  }
}
