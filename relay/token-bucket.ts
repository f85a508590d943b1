/**
 * A token bucket counting messages (sbrp.md §3 rate limiting). `take` always succeeds in the
 * sense that the message is accepted (the relay never drops a frame); it reports whether the
 * bucket went into debt, and `msUntilAvailable` says how long the reader must stay paused.
 */
export class TokenBucket {
  private readonly perSecond: number;
  private readonly burst: number;
  private tokens: number;
  private last: number;

  constructor(perSecond: number, burst: number, now: number) {
    this.perSecond = perSecond;
    this.burst = burst;
    this.tokens = burst;
    this.last = now;
  }

  /** Takes one token; false when the bucket is now in debt (over the rate). */
  take(now: number): boolean {
    this.refill(now);
    this.tokens -= 1;
    return this.tokens >= 0;
  }

  /** Milliseconds until one whole token is available again (0 when it is already). */
  msUntilAvailable(now: number): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / this.perSecond);
  }

  get available(): number {
    return this.tokens;
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.last);
    this.last = now;
    this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.perSecond) / 1000);
  }
}
