import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CODE_ALPHABET, CODE_BITS, CODE_LENGTH, generateCode, groupCode, hashCode, normalizeCode } from './quick-connect-code.js';

describe('Quick Connect codes', () => {
  it('carry at least 128 bits in 26 unambiguous symbols, grouped 5-5-5-5-6', () => {
    expect(CODE_ALPHABET).toHaveLength(32);
    expect(CODE_ALPHABET).not.toMatch(/[ILOU]/);
    expect(CODE_BITS).toBeGreaterThanOrEqual(128);
    const code = generateCode();
    expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){3}-[0-9A-HJKMNP-TV-Z]{6}$/);
    expect(normalizeCode(code)).toHaveLength(CODE_LENGTH);
  });

  it('map every 5-bit value to one symbol, so all 32 symbols appear without bias', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++) for (const c of generateCode().replace(/-/g, '')) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(32);
    // 52 000 symbols, 1625 expected each; a biased mapping would be far outside ±25 %.
    for (const n of counts.values()) expect(Math.abs(n - 1625)).toBeLessThan(400);
    const fixed = generateCode((n) => new Uint8Array(n).map((_, i) => i * 8 + 1)); // low 5 bits = (i*8+1) & 31
    expect(fixed.replace(/-/g, '')[0]).toBe(CODE_ALPHABET[1]);
  });

  it('normalize typed input: case, dashes, spaces, O→0, I/L→1', () => {
    const code = generateCode();
    const symbols = normalizeCode(code)!;
    expect(normalizeCode(code.toLowerCase())).toBe(symbols);
    expect(normalizeCode(` ${code.replace(/-/g, ' ')} `)).toBe(symbols);
    expect(normalizeCode(symbols)).toBe(symbols);
    expect(normalizeCode('OOOOO-IIIII-LLLLL-ooooo-iiiill')).toBe('00000111111111100000111111');
    expect(normalizeCode('UUUUU-00000-00000-00000-000000')).toBeUndefined(); // U is not in the alphabet
    expect(normalizeCode('00000-00000-00000-00000-00000')).toBeUndefined(); // 25 symbols
    expect(normalizeCode(`${'0'.repeat(26)}${' '.repeat(60)}`)).toBeUndefined(); // over the input bound
    expect(normalizeCode('0000000000000000000000000!')).toBeUndefined();
  });

  it('round-trip: grouping then normalizing any symbol string gives it back; hashes differ per code', () => {
    const symbol = fc.constantFrom(...CODE_ALPHABET);
    fc.assert(
      fc.property(fc.array(symbol, { minLength: 26, maxLength: 26 }), (chars) => {
        const symbols = chars.join('');
        expect(normalizeCode(groupCode(symbols))).toBe(symbols);
        expect(normalizeCode(groupCode(symbols).toLowerCase())).toBe(symbols);
      }),
    );
    expect(hashCode('A'.repeat(26))).toMatch(/^[0-9a-f]{64}$/);
    expect(hashCode('A'.repeat(26))).not.toBe(hashCode(`${'A'.repeat(25)}B`));
  });
});
