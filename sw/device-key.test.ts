import { ed25519 } from '@noble/curves/ed25519.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createDeviceKey, signWithDeviceKey, UnsupportedBrowserError } from './device-key.js';

// Node 20's globalThis.crypto.subtle has Ed25519, so these run on real WebCrypto; the browser
// tests run the same code in Chromium and Firefox.

afterEach(() => {
  vi.restoreAllMocks();
});

describe('createDeviceKey', () => {
  it('creates a non-extractable Ed25519 key whose signatures verify against the raw public key', async () => {
    const { privateKey, publicKey } = await createDeviceKey();
    expect(publicKey).toBeInstanceOf(Uint8Array);
    expect(publicKey).toHaveLength(32);
    expect(privateKey.extractable).toBe(false);
    expect(privateKey.type).toBe('private');
    expect(privateKey.algorithm.name).toBe('Ed25519');
    expect(privateKey.usages).toEqual(['sign']);
    const message = new TextEncoder().encode('sideband device challenge');
    const signature = await signWithDeviceKey(privateKey, message);
    expect(signature).toHaveLength(64);
    expect(ed25519.verify(signature, message, publicKey)).toBe(true);
    expect(ed25519.verify(signature, new TextEncoder().encode('another challenge'), publicKey)).toBe(false);
  });

  it('never lets the private key out', async () => {
    const { privateKey } = await createDeviceKey();
    for (const format of ['pkcs8', 'jwk', 'raw'] as const) {
      await expect(crypto.subtle.exportKey(format, privateKey)).rejects.toThrow();
    }
  });

  it('makes a new key each time', async () => {
    const [a, b] = await Promise.all([createDeviceKey(), createDeviceKey()]);
    expect(a.publicKey).not.toEqual(b.publicKey);
  });

  it('names the requirement when the browser lacks Ed25519', async () => {
    vi.spyOn(crypto.subtle, 'generateKey').mockRejectedValue(new DOMException('Algorithm: Unrecognized name', 'NotSupportedError'));
    const error = await createDeviceKey().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UnsupportedBrowserError);
    expect((error as UnsupportedBrowserError).code).toBe('unsupported_browser');
    expect((error as Error).message).toMatch(/Ed25519.*Chromium ≥ 137.*Firefox ≥ 129.*Safari 17/);
    expect((error as Error).cause).toBeInstanceOf(DOMException);
  });
});

describe('signWithDeviceKey', () => {
  it('signs a view into a larger buffer over exactly its bytes', async () => {
    const { privateKey, publicKey } = await createDeviceKey();
    const frame = new Uint8Array(64).fill(1);
    const message = frame.subarray(8, 24);
    const signature = await signWithDeviceKey(privateKey, message);
    expect(ed25519.verify(signature, message.slice(), publicKey)).toBe(true);
  });

  it('signs a view of shared memory', async () => {
    const { privateKey, publicKey } = await createDeviceKey();
    const shared = new Uint8Array(new SharedArrayBuffer(16)).fill(3);
    const signature = await signWithDeviceKey(privateKey, shared);
    expect(ed25519.verify(signature, new Uint8Array(16).fill(3), publicKey)).toBe(true);
  });

  it('refuses a public key in place of the private one', async () => {
    const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair;
    await expect(signWithDeviceKey(pair.publicKey, new Uint8Array(4))).rejects.toThrow();
  });
});
