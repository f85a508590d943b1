import { chacha20poly1305 } from '@noble/ciphers/chacha.js';

/**
 * ChaCha20-Poly1305 with empty AAD (sbrp.md §2), behind an interface so each runtime can use
 * its fastest audited implementation: noble everywhere (WebCrypto has no ChaCha20 for the
 * service worker), OpenSSL through node:crypto in Node (`npm run bench`: 10–14× noble at
 * 16–64 KiB). The vector tests run every implementation against the same known answers.
 */
/**
 * One message's plaintext, whole or as pieces read in order (an inner header and the body
 * views behind it, say), so a sender need not join them into a fresh buffer first.
 */
export type Plaintext = Uint8Array | readonly Uint8Array[];

export function plaintextLength(plaintext: Plaintext): number {
  if (plaintext instanceof Uint8Array) return plaintext.length;
  let length = 0;
  for (const piece of plaintext) length += piece.length;
  return length;
}

/** The plaintext copied into one fresh buffer (for a sender that must keep it). */
export function copyPlaintext(plaintext: Plaintext): Uint8Array {
  if (plaintext instanceof Uint8Array) return plaintext.slice();
  const joined = new Uint8Array(plaintextLength(plaintext));
  let offset = 0;
  for (const piece of plaintext) {
    joined.set(piece, offset);
    offset += piece.length;
  }
  return joined;
}

export interface Aead {
  /** Returns ciphertext ‖ 16-byte tag. */
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /**
   * Writes ciphertext ‖ tag into `out` (exactly the plaintext's length + 16 bytes), so a whole
   * Data frame is built in one buffer (`npm run bench`: the copies were most of the OpenSSL
   * path). Pieces are read in order straight into `out`, never joined first.
   */
  sealInto(key: Uint8Array, nonce: Uint8Array, plaintext: Plaintext, out: Uint8Array): void;
  /** Returns the plaintext; throws on a bad tag. */
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Uint8Array;
}

export const nobleAead: Aead = {
  seal: (key, nonce, plaintext) => chacha20poly1305(key, nonce).encrypt(plaintext),
  sealInto: (key, nonce, plaintext, out) => {
    if (plaintext instanceof Uint8Array) {
      chacha20poly1305(key, nonce).encrypt(plaintext, out);
      return;
    }
    // noble encrypts in place in `out` (it copies the plaintext there first): lay the pieces
    // out where that copy would put them, and encrypt that region.
    let offset = 0;
    for (const piece of plaintext) {
      out.set(piece, offset);
      offset += piece.length;
    }
    chacha20poly1305(key, nonce).encrypt(out.subarray(0, offset), out);
  },
  open: (key, nonce, sealed) => chacha20poly1305(key, nonce).decrypt(sealed),
};
