import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeSid, encodeSid } from './session-id.js';
import { fromBase64Url, toBase64Url } from './bytes.js';

describe('sid claim', () => {
  it('decodes the sbrp.md §5 example', () => {
    expect(decodeSid('AAALOnPOL_I')).toBe(0x00000b3a73ce2ff2n);
    expect(encodeSid(0x00000b3a73ce2ff2n)).toBe('AAALOnPOL_I');
  });

  it('rejects zero, padding, wrong lengths, foreign alphabets and non-canonical tails', () => {
    for (const bad of ['AAAAAAAAAAA', 'AAALOnPOL_I=', 'AAALOnPOL/I', 'AAALOnPOL+I', 'AAALOnPOL', '', 'AAALOnPOL_J', 42, null, undefined, {}]) {
      expect(decodeSid(bad), String(bad)).toBeUndefined();
    }
  });

  it('round-trips every non-zero uint64 (property)', () => {
    fc.assert(fc.property(fc.bigInt({ min: 1n, max: (1n << 64n) - 1n }), (sid) => {
      expect(decodeSid(encodeSid(sid))).toBe(sid);
    }));
  });

  it('base64url round-trips arbitrary bytes (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
      expect(fromBase64Url(toBase64Url(bytes))).toEqual(bytes);
    }));
  });
});
