import { createCipheriv, createDecipheriv, type CipherChaCha20Poly1305 } from 'node:crypto';
import { plaintextLength, type Aead } from '../protocol/aead.js';

/** Encrypts one piece into `out` at `offset`; returns the offset after it. */
function sealPiece(cipher: CipherChaCha20Poly1305, piece: Uint8Array, out: Uint8Array, offset: number): number {
  if (piece.length === 0) return offset;
  const sealed = cipher.update(piece);
  out.set(sealed, offset);
  return offset + sealed.length;
}

/**
 * ChaCha20-Poly1305 from OpenSSL through node:crypto: the daemon's and Node client's fast
 * path (`npm run bench` measures it against noble). Empty AAD, 16-byte tag (sbrp.md §2).
 */
export const nodeAead: Aead = {
  seal(key, nonce, plaintext) {
    const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    const head = cipher.update(plaintext);
    const tail = cipher.final();
    const tag = cipher.getAuthTag();
    const out = new Uint8Array(head.length + tail.length + 16);
    out.set(head, 0);
    out.set(tail, head.length);
    out.set(tag, head.length + tail.length);
    return out;
  },
  sealInto(key, nonce, plaintext, out) {
    const length = plaintextLength(plaintext);
    if (out.length !== length + 16) throw new RangeError('sealInto: out must be the plaintext length + 16 bytes');
    const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    // update() takes the pieces in sequence (one keystream), so they are never joined.
    let offset = 0;
    if (plaintext instanceof Uint8Array) offset = sealPiece(cipher, plaintext, out, offset);
    else for (const piece of plaintext) offset = sealPiece(cipher, piece, out, offset);
    out.set(cipher.final(), offset);
    out.set(cipher.getAuthTag(), length);
  },
  open(key, nonce, sealed) {
    if (sealed.length < 16) throw new Error('sealed message shorter than the tag');
    const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    const head = decipher.update(sealed.subarray(0, sealed.length - 16));
    const tail = decipher.final(); // throws on a bad tag
    // A stream cipher: OpenSSL returns everything from update(). The fresh buffer is ours to keep.
    if (tail.length === 0) return new Uint8Array(head.buffer, head.byteOffset, head.length);
    const out = new Uint8Array(head.length + tail.length);
    out.set(head, 0);
    out.set(tail, head.length);
    return out;
  },
};
