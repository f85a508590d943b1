import { describe, expect, it } from 'vitest';
import { explain } from './error-text.js';
import { formatBytes, formatRate } from './format.js';
import { pairCodeFromHash } from './pair-link.js';

describe('pairCodeFromHash (the #pair=CODE link format)', () => {
  it('takes the code of a Quick Connect link', () => {
    expect(pairCodeFromHash('#pair=7KQ2M-XD9RP-4TAVB-0HNZC-W3E8FJ')).toBe('7KQ2M-XD9RP-4TAVB-0HNZC-W3E8FJ');
    expect(pairCodeFromHash('#pair=7kq2m%20xd9rp')).toBe('7kq2m xd9rp');
  });

  it('ignores other fragments and implausible codes', () => {
    for (const hash of ['', '#', '#pair=', '#pairs=ABC', '#x=1&pair=ABC', '#pair=ABC&x=1', '#pair=%E0%A4%A', '#pair=<script>', `#pair=${'A'.repeat(65)}`]) {
      expect(pairCodeFromHash(hash), hash).toBeUndefined();
    }
  });
});

describe('formatting', () => {
  it('formats sizes and rates in binary units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(64 * 1024 * 1024)).toBe('64.0 MiB');
    expect(formatRate(10 * 1024 * 1024, 500)).toBe('20.0 MiB/s');
    expect(formatRate(1, 0)).toBe('0 B/s');
  });

  it('explains pairing codes in words and passes unknown codes through', () => {
    expect(explain('code_expired')).toMatch(/expired/);
    expect(explain('something_new')).toBe('something_new');
    expect(explain(undefined)).toBe('');
  });
});
