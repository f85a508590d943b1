import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RECONNECT_DEFAULTS, ReconnectBackoff, nextDelay, shouldRetry } from './reconnect-policy.js';

describe('reconnect policy', () => {
  it('grows from 1 s by factor 2 up to 30 s, with equal jitter by default', () => {
    expect(nextDelay(0, () => 0)).toBe(500);
    expect(nextDelay(0, () => 0.999999)).toBe(1000);
    expect(nextDelay(1, () => 0.999999)).toBe(2000);
    expect(nextDelay(4, () => 0.999999)).toBe(16000);
    expect(nextDelay(5, () => 0.999999)).toBe(30000);
    expect(nextDelay(1000, () => 0)).toBe(15000);
  });

  it('full jitter spans [0, cap]; none is the cap', () => {
    expect(nextDelay(3, () => 0, { jitter: 'full' })).toBe(0);
    expect(nextDelay(3, () => 0.5, { jitter: 'full' })).toBe(4000);
    expect(nextDelay(3, () => 0.123, { jitter: 'none' })).toBe(8000);
  });

  it('stays within [0, maxDelay] for any attempt and any random value', () => {
    fc.assert(
      fc.property(fc.integer({ min: -5, max: 10_000 }), fc.double({ min: -1, max: 2, noNaN: true }), fc.constantFrom('full', 'equal', 'none') as fc.Arbitrary<'full' | 'equal' | 'none'>, (attempt, r, jitter) => {
        const d = nextDelay(attempt, () => r, { jitter });
        return Number.isFinite(d) && d >= 0 && d <= RECONNECT_DEFAULTS.maxDelayMs;
      }),
    );
  });

  it('does not retry closes that need a human, retries the rest', () => {
    for (const code of ['identity_key_changed', 'handshake_failed', 'forbidden', 'daemon_not_found', 'invalid_config', 'file_insecure', 'device_revoked', 'device_not_found']) {
      expect(shouldRetry(code), code).toBe(false);
    }
    for (const code of [undefined, 'unauthorized', 'session_expired', 'daemon_offline', 'connection_lost', 'decrypt_failed', 'sequence_error', 'handshake_timeout', 'internal_error']) {
      expect(shouldRetry(code), String(code)).toBe(true);
    }
  });

  it('resets the attempt count only after a stable connection', () => {
    let now = 0;
    const backoff = new ReconnectBackoff({ jitter: 'none' }, () => 0, () => now);
    expect([backoff.delay(), backoff.delay(), backoff.delay()]).toEqual([1000, 2000, 4000]);
    backoff.connected();
    now += RECONNECT_DEFAULTS.stableAfterMs - 1;
    expect(backoff.delay()).toBe(8000); // dropped too soon: keeps growing
    backoff.connected();
    now += RECONNECT_DEFAULTS.stableAfterMs;
    expect(backoff.delay()).toBe(1000); // was stable: starts over
    backoff.connected();
    now += RECONNECT_DEFAULTS.stableAfterMs;
    backoff.unstable();
    expect(backoff.delay()).toBe(2000); // dropped for misbehaving: no reset
  });
});
