/**
 * Bundled for the page by bench/browser.bench.ts (like test/browser/vectors-entry.ts): the AEAD
 * ceiling of this browser, i.e. how fast the session's own cipher (noble ChaCha20-Poly1305 through
 * protocol/aead.ts, what the service worker runs) seals and opens one Data payload after another
 * on one thread. No DOM types here: bench/ is type-checked without the DOM lib.
 */
import { nobleAead } from '../protocol/aead.js';

export interface AeadCeiling {
  /** MB/s (10^6 bytes of plaintext per second). */
  seal: number;
  open: number;
}

/** Seals then opens `totalBytes` of plaintext in `chunk`-byte pieces (after a short warm-up). */
export function aeadCeiling(totalBytes: number, chunk: number): AeadCeiling {
  const key = new Uint8Array(32).fill(7);
  const nonce = new Uint8Array(12);
  const view = new DataView(nonce.buffer);
  const plaintext = new Uint8Array(chunk).map((_, i) => i & 0xff);
  const count = Math.max(1, Math.round(totalBytes / chunk));
  const sealed: Uint8Array[] = [];
  for (let i = 0; i < 20; i++) nobleAead.open(key, nonce, nobleAead.seal(key, nonce, plaintext));
  let start = performance.now();
  for (let i = 0; i < count; i++) {
    view.setUint32(8, i);
    sealed.push(nobleAead.seal(key, nonce, plaintext));
  }
  const sealMs = performance.now() - start;
  start = performance.now();
  for (let i = 0; i < count; i++) {
    view.setUint32(8, i);
    nobleAead.open(key, nonce, sealed[i]!);
  }
  const openMs = performance.now() - start;
  const mb = (count * chunk) / 1e6;
  return { seal: mb / (sealMs / 1000), open: mb / (openMs / 1000) };
}
