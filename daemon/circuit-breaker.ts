/**
 * Counts failures in a sliding time window and trips once `maxErrors` fall inside it. The
 * daemon feeds it the relay's faults only (frames no honest relay forwards: a bad header, a
 * misused Control, a type or SessionID the relay must refuse): a relay (or something in
 * between) that keeps sending garbage gets disconnected and backed off from, instead of being
 * parsed forever. A client's garbage (its HandshakeInit and Data) never counts: it ends that
 * client's session, never the connection every other session shares (connect-daemon.ts
 * `protocolError`).
 */
export interface CircuitBreakerOptions {
  maxErrors: number;
  windowMs: number;
}

export const CIRCUIT_BREAKER_DEFAULTS: Readonly<CircuitBreakerOptions> = Object.freeze({ maxErrors: 20, windowMs: 10_000 });

export class CircuitBreaker {
  private times: number[] = [];
  private readonly options: CircuitBreakerOptions;

  constructor(options: Partial<CircuitBreakerOptions> = {}, private readonly now: () => number = Date.now) {
    this.options = { ...CIRCUIT_BREAKER_DEFAULTS, ...options };
  }

  /** Records one failure; true when this one trips the breaker (the count then starts over). */
  record(): boolean {
    const now = this.now();
    const since = now - this.options.windowMs;
    this.times = this.times.filter((t) => t > since);
    this.times.push(now);
    if (this.times.length < this.options.maxErrors) return false;
    this.times = [];
    return true;
  }

  reset(): void {
    this.times = [];
  }
}
