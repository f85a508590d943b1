import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { copyPlaintext, nobleAead } from './aead.js';
import { nodeAead } from '../node/aead-node.js';

describe('AEAD implementations', () => {
  it('noble and node:crypto produce identical output and open each other (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.uint8Array({ maxLength: 3000 }), (key, nonce, plaintext) => {
        const a = nobleAead.seal(key, nonce, plaintext);
        expect(nodeAead.seal(key, nonce, plaintext)).toEqual(a);
        for (const aead of [nobleAead, nodeAead]) {
          const out = new Uint8Array(plaintext.length + 16);
          aead.sealInto(key, nonce, plaintext, out);
          expect(out).toEqual(a);
        }
        expect(nodeAead.open(key, nonce, a)).toEqual(plaintext);
        expect(nobleAead.open(key, nonce, a)).toEqual(plaintext);
      }),
      { numRuns: 200 },
    );
  });

  it('seal the same bytes from pieces as from the whole plaintext (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 12, maxLength: 12 }),
        fc.array(fc.uint8Array({ maxLength: 700 }), { maxLength: 6 }),
        (key, nonce, pieces) => {
          const whole = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
          let offset = 0;
          for (const piece of pieces) {
            whole.set(piece, offset);
            offset += piece.length;
          }
          const expected = nobleAead.seal(key, nonce, whole);
          for (const aead of [nobleAead, nodeAead]) {
            const out = new Uint8Array(whole.length + 16);
            aead.sealInto(key, nonce, pieces, out);
            expect(out).toEqual(expected);
          }
          // The pieces are read, never written (they may be a stream's queued body views).
          expect(copyPlaintext(pieces)).toEqual(whole);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses an output buffer of the wrong length', () => {
    const key = new Uint8Array(32);
    const nonce = new Uint8Array(12);
    expect(() => nodeAead.sealInto(key, nonce, [new Uint8Array(3), new Uint8Array(4)], new Uint8Array(7 + 15))).toThrow(RangeError);
    expect(() => nobleAead.sealInto(key, nonce, [new Uint8Array(3), new Uint8Array(4)], new Uint8Array(7 + 15))).toThrow();
  });

  it('both refuse a flipped bit anywhere, and a sealed message shorter than the tag', () => {
    const key = new Uint8Array(32).fill(3);
    const nonce = new Uint8Array(12);
    const sealed = nobleAead.seal(key, nonce, new Uint8Array(40).fill(9));
    for (const index of [0, 20, sealed.length - 1]) {
      const bad = sealed.slice();
      bad[index]! ^= 0x10;
      expect(() => nodeAead.open(key, nonce, bad)).toThrow();
      expect(() => nobleAead.open(key, nonce, bad)).toThrow();
    }
    expect(() => nodeAead.open(key, nonce, new Uint8Array(15))).toThrow();
    expect(() => nobleAead.open(key, nonce, new Uint8Array(15))).toThrow();
  });
});
