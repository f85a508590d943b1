import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ReplayWindow } from './replay-window.js';

describe('replay window', () => {
  it('refuses windows under 128', () => {
    expect(() => new ReplayWindow(64)).toThrow(RangeError);
    expect(new ReplayWindow(128).size).toBe(128n);
  });

  it('behaves like a set of accepted sequences, limited to the last 128 below the highest (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: 600n }), { maxLength: 300 }), (sequence) => {
        const window = new ReplayWindow(128);
        const seen = new Set<bigint>();
        let highest = -1n;
        for (const seq of sequence) {
          const expected = seq > highest ? 'fresh' : highest - seq >= 128n ? 'too_old' : seen.has(seq) ? 'duplicate' : 'fresh';
          expect(window.check(seq)).toBe(expected);
          if (expected === 'fresh') {
            window.accept(seq);
            seen.add(seq);
            if (seq > highest) highest = seq;
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('resets in O(1) on a jump far past the window', () => {
    const window = new ReplayWindow(128);
    window.accept(5n);
    window.accept(1n << 62n);
    expect(window.check(5n)).toBe('too_old');
    expect(window.check((1n << 62n) - 1n)).toBe('fresh');
    expect(window.check(1n << 62n)).toBe('duplicate');
    expect(window.snapshot().bitmap).toBe(1n);
  });
});
