import { chacha20poly1305 } from '@noble/ciphers/chacha.js';

/**
 * ChaCha20-Poly1305 with empty AAD (sbrp.md §2), behind an interface so each runtime can use
 * its fastest audited implementation: noble everywhere (WebCrypto has no ChaCha20 for the
 * service worker), OpenSSL through node:crypto in Node (`npm run bench`: 10–14× noble at
 * 16–64 KiB). The vector tests run every implementation against the same known answers.
 */
export interface Aead {
  /** Returns ciphertext ‖ 16-byte tag. */
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /**
   * Writes ciphertext ‖ tag into `out` (exactly plaintext.length + 16 bytes), so a whole Data
   * frame is built in one buffer (`npm run bench`: the copies were most of the OpenSSL path).
   */
  sealInto(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, out: Uint8Array): void;
  /** Returns the plaintext; throws on a bad tag. */
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Uint8Array;
}

export const nobleAead: Aead = {
  seal: (key, nonce, plaintext) => chacha20poly1305(key, nonce).encrypt(plaintext),
  sealInto: (key, nonce, plaintext, out) => {
    chacha20poly1305(key, nonce).encrypt(plaintext, out);
  },
  open: (key, nonce, sealed) => chacha20poly1305(key, nonce).decrypt(sealed),
};
