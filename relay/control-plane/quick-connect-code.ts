import { createHash, randomBytes } from 'node:crypto';

/**
 * Quick Connect codes (sbrp.md §5: at least 128 bits, easy to type). 26 symbols of Crockford's
 * base32 alphabet (no I, L, O, U) carry 130 bits, shown as five dash-separated groups:
 *
 *   7KQ2M-XD9RP-4TAVB-0HNZC-W3E8FJ
 *
 * Input is forgiving: case, dashes and spaces are ignored, O reads as 0 and I or L as 1.
 */
export const CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const CODE_LENGTH = 26;
export const CODE_BITS = CODE_LENGTH * 5;
const GROUPS = [5, 5, 5, 5, 6] as const;
/** Longest input accepted for normalization (a code with generous separators). */
export const MAX_CODE_INPUT_LENGTH = 64;

/** A fresh code, grouped for display. Each symbol takes 5 bits of one random byte: no bias (256 = 8 × 32). */
export function generateCode(random: (n: number) => Uint8Array = randomBytes): string {
  const bytes = random(CODE_LENGTH);
  let symbols = '';
  for (let i = 0; i < CODE_LENGTH; i++) symbols += CODE_ALPHABET[bytes[i]! & 31];
  bytes.fill(0);
  return groupCode(symbols);
}

/** `ABCDE…` (26 symbols) → `ABCDE-…` in the display grouping. */
export function groupCode(symbols: string): string {
  const parts: string[] = [];
  let at = 0;
  for (const size of GROUPS) {
    parts.push(symbols.slice(at, at + size));
    at += size;
  }
  return parts.join('-');
}

/** The 26 canonical symbols of a typed code, or undefined when it cannot be a code. */
export function normalizeCode(input: string): string | undefined {
  if (input.length > MAX_CODE_INPUT_LENGTH) return undefined;
  const symbols = input.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  if (symbols.length !== CODE_LENGTH) return undefined;
  for (const c of symbols) if (!CODE_ALPHABET.includes(c)) return undefined;
  return symbols;
}

/** What the store keeps: SHA-256 (hex) of the canonical symbols, never the code itself. */
export function hashCode(symbols: string): string {
  return createHash('sha256').update(symbols, 'utf8').digest('hex');
}
