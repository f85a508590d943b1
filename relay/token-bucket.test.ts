import { describe, expect, it } from 'vitest';
import { TokenBucket } from './token-bucket.js';

describe('TokenBucket', () => {
  it('allows a burst, then goes into debt and says how long to wait', () => {
    const bucket = new TokenBucket(100, 3, 0);
    expect([bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([true, true, true]);
    expect(bucket.take(0)).toBe(false); // accepted, but over the rate
    expect(bucket.take(0)).toBe(false);
    expect(bucket.msUntilAvailable(0)).toBe(30); // debt of 2 plus one whole token at 100/s
    expect(bucket.msUntilAvailable(30)).toBe(0);
    expect(bucket.take(30)).toBe(true);
  });

  it('never refills past the burst', () => {
    const bucket = new TokenBucket(1000, 5, 0);
    bucket.take(0);
    expect(bucket.msUntilAvailable(1_000_000)).toBe(0);
    expect(bucket.available).toBe(5);
  });
});
