import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { bytesEqual, fromHex, utf8 } from '../protocol/bytes.js';

/**
 * Native WebCrypto ChaCha20-Poly1305 (service-worker.md "Crypto and storage": present in
 * Chromium 156, absent in Chromium 150 and Firefox 140). `@noble/ciphers` stays the portable
 * path; this module only detects the native one and wraps it for the vector tests.
 */

const ALGORITHM = 'ChaCha20-Poly1305';

/**
 * ChaCha20-Poly1305 through WebCrypto, empty AAD (sbrp.md §2), with the same shapes as
 * `nobleAead` (ciphertext ‖ 16-byte tag) but asynchronous. Imports the key on every call: meant
 * for known-answer tests in the browser, not for a hot path.
 */
export const nativeAsyncAead = {
  async seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
    checkLengths(key, nonce);
    const cryptoKey = await importKey(key, 'encrypt');
    return new Uint8Array(await crypto.subtle.encrypt({ name: ALGORITHM, iv: arrayBufferBacked(nonce) }, cryptoKey, arrayBufferBacked(plaintext)));
  },
  /** Returns the plaintext; rejects on a bad tag. */
  async open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Promise<Uint8Array> {
    checkLengths(key, nonce);
    if (sealed.length < 16) throw new RangeError('ChaCha20-Poly1305: sealed input is shorter than the 16-byte tag');
    const cryptoKey = await importKey(key, 'decrypt');
    return new Uint8Array(await crypto.subtle.decrypt({ name: ALGORITHM, iv: arrayBufferBacked(nonce) }, cryptoKey, arrayBufferBacked(sealed)));
  },
};

let detected: Promise<boolean> | undefined;

/**
 * Whether WebCrypto has a ChaCha20-Poly1305 that agrees with `@noble/ciphers`. Runs once per
 * worker instance (the answer cannot change while it lives); never rejects.
 *
 *   const aead = (await hasNativeChaCha20Poly1305()) ? 'native' : 'noble';
 */
export function hasNativeChaCha20Poly1305(): Promise<boolean> {
  detected ??= detect();
  return detected;
}

// Key, nonce and plaintext of RFC 8439 §2.8.2. Its AAD is left out on purpose: SBRP seals with
// an empty AAD (sbrp.md §2), so that is the path to prove, and the expected output comes from
// the audited implementation the session would otherwise use.
const PROBE_KEY = '808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f';
const PROBE_NONCE = '070000004041424344454647';
const PROBE_PLAINTEXT = "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";

async function detect(): Promise<boolean> {
  try {
    const key = fromHex(PROBE_KEY);
    const nonce = fromHex(PROBE_NONCE);
    const plaintext = utf8(PROBE_PLAINTEXT);
    const expected = chacha20poly1305(key, nonce).encrypt(plaintext);
    const sealed = await nativeAsyncAead.seal(key, nonce, plaintext);
    if (!bytesEqual(sealed, expected)) return false;
    const opened = await nativeAsyncAead.open(key, nonce, sealed);
    if (!bytesEqual(opened, plaintext)) return false;
    // An implementation that skipped the tag check would be worse than none.
    const forged = sealed.slice();
    forged[forged.length - 1] ^= 1;
    return await nativeAsyncAead.open(key, nonce, forged).then(
      () => false,
      () => true,
    );
  } catch {
    // NotSupportedError where the algorithm is missing; anything else is just as disqualifying.
    return false;
  }
}

function importKey(key: Uint8Array, usage: 'encrypt' | 'decrypt'): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', arrayBufferBacked(key), { name: ALGORITHM }, false, [usage]);
}

function checkLengths(key: Uint8Array, nonce: Uint8Array): void {
  if (key.length !== 32) throw new RangeError('ChaCha20-Poly1305 key must be 32 bytes');
  if (nonce.length !== 12) throw new RangeError('ChaCha20-Poly1305 nonce must be 12 bytes');
}

/** WebCrypto takes ArrayBuffer-backed views only (`BufferSource`); copies a shared-memory view. */
function arrayBufferBacked(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : bytes.slice();
}
