/**
 * Reconnect and liveness settings shared by every endpoint that dials the relay: the Node
 * daemon SDK, the Node client and the service worker (design.md "Behaviour users rely on":
 * fresh token per attempt, exponential backoff with jitter from 1 s to 30 s, reset after a
 * stable connection, no thundering herd after a relay restart). Pure: callers pass the clock
 * and the randomness.
 */

export type Jitter = 'full' | 'equal' | 'none';

export interface ReconnectPolicy {
  /** Delay cap of the first retry, and the base of the exponential. */
  minDelayMs: number;
  /** Upper bound of any delay. */
  maxDelayMs: number;
  /** Growth per attempt. */
  factor: number;
  /** `full`: uniform in [0, cap]; `equal`: uniform in [cap/2, cap]; `none`: cap. */
  jitter: Jitter;
  /** A connection that stayed up this long resets the attempt count. */
  stableAfterMs: number;
  /** Client: from WebSocket open to HandshakeAccept (sbrp.md §2). */
  handshakeTimeoutMs: number;
  /** Ping cadence (sbrp.md §4: clients 25 s, daemons 45 s; the relay drops 90 s of silence). */
  clientPingIntervalMs: number;
  daemonPingIntervalMs: number;
  /** A Ping unanswered for this long means the relay is gone. */
  pongTimeoutMs: number;
}

export const RECONNECT_DEFAULTS: Readonly<ReconnectPolicy> = Object.freeze({
  minDelayMs: 1_000,
  maxDelayMs: 30_000,
  factor: 2,
  // Equal jitter keeps every retry at least cap/2 away, so a refused client never spins, while
  // still spreading a herd of clients over half the window.
  jitter: 'equal',
  stableAfterMs: 10_000,
  handshakeTimeoutMs: 30_000,
  clientPingIntervalMs: 25_000,
  daemonPingIntervalMs: 45_000,
  pongTimeoutMs: 30_000,
});

/**
 * The delay before retry number `attempt` (0 for the first retry). `random` returns a number
 * in [0, 1), like `Math.random`.
 *
 *   nextDelay(0, Math.random)  // 500..1000 ms with the defaults
 *   nextDelay(10, Math.random) // 15..30 s
 */
export function nextDelay(attempt: number, random: () => number, policy: Partial<ReconnectPolicy> = {}): number {
  const p = { ...RECONNECT_DEFAULTS, ...policy };
  const exponent = Math.max(0, Math.min(Math.floor(attempt), 64));
  const cap = Math.min(p.maxDelayMs, p.minDelayMs * Math.pow(p.factor, exponent));
  const r = Math.min(Math.max(random(), 0), 1);
  switch (p.jitter) {
    case 'full':
      return Math.round(cap * r);
    case 'none':
      return Math.round(cap);
    default:
      return Math.round(cap / 2 + (cap / 2) * r);
  }
}

/**
 * Codes that end the connection for good: retrying cannot succeed, or must not happen before
 * a human decides (a changed daemon identity needs an explicit approval, sbrp.md §5).
 * `unauthorized` does retry: the next attempt fetches a fresh token anyway.
 */
const NO_RETRY: ReadonlySet<string> = new Set([
  'identity_key_changed',
  'handshake_failed',
  'forbidden',
  'daemon_not_found',
  'invalid_config',
  // The owner revoked this device, or it was never enrolled: pairing again is a human step.
  'device_revoked',
  'device_not_found',
  // A private file (identity, pins) that is unsafe or corrupt needs a human (node/errors.ts).
  'file_insecure',
  'file_malformed',
]);

export function shouldRetry(code: string | undefined): boolean {
  return code === undefined || !NO_RETRY.has(code);
}

/**
 * Attempt counter for one reconnecting endpoint. `connected()` when a connection is up,
 * `delay()` when it failed or dropped: the count resets if the last connection stayed up for
 * `stableAfterMs`.
 */
export class ReconnectBackoff {
  private attempt = 0;
  private upSince?: number;
  private readonly policy: ReconnectPolicy;

  constructor(
    policy: Partial<ReconnectPolicy> = {},
    private readonly random: () => number = Math.random,
    private readonly now: () => number = Date.now,
  ) {
    this.policy = { ...RECONNECT_DEFAULTS, ...policy };
  }

  get attempts(): number {
    return this.attempt;
  }

  connected(): void {
    this.upSince = this.now();
  }

  /** The current connection must not count as stable (it was dropped for misbehaving). */
  unstable(): void {
    this.upSince = undefined;
  }

  /** The delay before the next attempt; advances the attempt count. */
  delay(): number {
    if (this.upSince !== undefined && this.now() - this.upSince >= this.policy.stableAfterMs) this.attempt = 0;
    this.upSince = undefined;
    return nextDelay(this.attempt++, this.random, this.policy);
  }

  reset(): void {
    this.attempt = 0;
    this.upSince = undefined;
  }
}
