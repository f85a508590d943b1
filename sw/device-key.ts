/**
 * The browser's device key (design.md "Pairing, credentials and storage"): a WebCrypto Ed25519
 * key pair whose private half is non-extractable, so the copy IndexedDB keeps (structured clone)
 * can sign but can never be read out, and a stolen database cannot impersonate the device.
 */

/** What a browser needs for the device key (service-worker.md "Crypto and storage"). */
export const ED25519_REQUIREMENT = 'WebCrypto Ed25519 (Chromium ≥ 137, Firefox ≥ 129, Safari 17)';

/** The browser cannot hold a device key: WebCrypto lacks Ed25519 (or `crypto.subtle` is absent). */
export class UnsupportedBrowserError extends Error {
  override readonly name = 'UnsupportedBrowserError';
  readonly code = 'unsupported_browser';
}

/**
 * Creates a device key pair. The private key is non-extractable and signs only; `publicKey` is
 * the raw 32-byte Ed25519 key the control plane records at enrollment.
 *
 *   const { privateKey, publicKey } = await createDeviceKey();
 *   await store.saveDevice({ ..., privateKey, publicKey: toBase64Url(publicKey) });
 */
export async function createDeviceKey(): Promise<{ privateKey: CryptoKey; publicKey: Uint8Array }> {
  let pair: CryptoKeyPair;
  try {
    // Extractability applies to the private key only; the public key of a pair is always exportable.
    pair = await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']);
  } catch (error) {
    // Older engines answer NotSupportedError (or TypeError when `crypto.subtle` is missing in an
    // insecure context); with fixed arguments no other failure is expected.
    throw new UnsupportedBrowserError(`this browser lacks ${ED25519_REQUIREMENT}`, { cause: error });
  }
  if (pair.privateKey.extractable) throw new Error('WebCrypto returned an extractable Ed25519 private key');
  const publicKey = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  if (publicKey.length !== 32) throw new Error(`WebCrypto exported a ${publicKey.length}-byte Ed25519 public key`);
  return { privateKey: pair.privateKey, publicKey };
}

/** Signs `message` with the device key; returns the 64-byte Ed25519 signature (RFC 8032). */
export async function signWithDeviceKey(privateKey: CryptoKey, message: Uint8Array): Promise<Uint8Array> {
  const signature = new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, privateKey, arrayBufferBacked(message)));
  if (signature.length !== 64) throw new Error(`WebCrypto produced a ${signature.length}-byte Ed25519 signature`);
  return signature;
}

/** WebCrypto takes ArrayBuffer-backed views only (`BufferSource`); copies a shared-memory view. */
function arrayBufferBacked(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : bytes.slice();
}
