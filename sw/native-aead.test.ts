import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// Node 20's WebCrypto has no ChaCha20-Poly1305, so the real detection answers false here; the
// browser tests see true in Chromium 156. The detection logic itself is exercised below against
// stand-ins for a native implementation (correct, wrong, and one that skips the tag check).

type Module = typeof import('./native-aead.js');

/** A fresh copy of the module: the detection result is cached per instance. */
async function freshModule(): Promise<Module> {
  vi.resetModules();
  return import('./native-aead.js');
}

interface FakeKey {
  raw: Uint8Array;
}

/** Replaces WebCrypto's ChaCha20-Poly1305 entry points with `impl` (what a browser would have). */
function fakeNative(impl: { encrypt(key: Uint8Array, nonce: Uint8Array, data: Uint8Array): Uint8Array; decrypt(key: Uint8Array, nonce: Uint8Array, data: Uint8Array): Uint8Array }): void {
  vi.spyOn(crypto.subtle, 'importKey').mockImplementation((async (format: string, keyData: BufferSource, algorithm: { name: string }) => {
    if (format !== 'raw' || algorithm.name !== 'ChaCha20-Poly1305') throw new DOMException('unexpected', 'NotSupportedError');
    return { raw: new Uint8Array(keyData as ArrayBuffer).slice() } as FakeKey as unknown as CryptoKey;
  }) as unknown as typeof crypto.subtle.importKey);
  const call = (op: 'encrypt' | 'decrypt') =>
    (async (algorithm: { name: string; iv: Uint8Array }, key: CryptoKey, data: Uint8Array) => {
      if (algorithm.name !== 'ChaCha20-Poly1305') throw new DOMException('unexpected', 'NotSupportedError');
      return impl[op]((key as unknown as FakeKey).raw, algorithm.iv, data).slice().buffer;
    }) as unknown as typeof crypto.subtle.encrypt;
  vi.spyOn(crypto.subtle, 'encrypt').mockImplementation(call('encrypt'));
  vi.spyOn(crypto.subtle, 'decrypt').mockImplementation(call('decrypt'));
}

const noble = {
  encrypt: (key: Uint8Array, nonce: Uint8Array, data: Uint8Array) => chacha20poly1305(key, nonce).encrypt(data),
  decrypt: (key: Uint8Array, nonce: Uint8Array, data: Uint8Array) => chacha20poly1305(key, nonce).decrypt(data),
};

beforeEach(() => {
  vi.restoreAllMocks();
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('hasNativeChaCha20Poly1305', () => {
  it('answers a boolean in this runtime, and when true the native AEAD matches noble', async () => {
    const { hasNativeChaCha20Poly1305, nativeAsyncAead } = await freshModule();
    const has = await hasNativeChaCha20Poly1305();
    expect(typeof has).toBe('boolean');
    if (!has) return;
    const key = new Uint8Array(32).map((_, i) => i);
    const nonce = new Uint8Array(12).fill(7);
    for (const length of [0, 1, 63, 64, 65, 1000]) {
      const plaintext = new Uint8Array(length).map((_, i) => i * 31);
      const sealed = await nativeAsyncAead.seal(key, nonce, plaintext);
      expect(sealed).toEqual(chacha20poly1305(key, nonce).encrypt(plaintext));
      expect(await nativeAsyncAead.open(key, nonce, sealed)).toEqual(plaintext);
    }
  });

  it('is true for an implementation that agrees with noble, and runs once', async () => {
    fakeNative(noble);
    const { hasNativeChaCha20Poly1305 } = await freshModule();
    const [a, b] = await Promise.all([hasNativeChaCha20Poly1305(), hasNativeChaCha20Poly1305()]);
    expect([a, b]).toEqual([true, true]);
    const imports = vi.mocked(crypto.subtle.importKey).mock.calls.length;
    expect(await hasNativeChaCha20Poly1305()).toBe(true);
    expect(vi.mocked(crypto.subtle.importKey).mock.calls.length).toBe(imports);
  });

  it('is false where the algorithm is missing (NotSupportedError)', async () => {
    vi.spyOn(crypto.subtle, 'importKey').mockRejectedValue(new DOMException('Algorithm: Unrecognized name', 'NotSupportedError'));
    const { hasNativeChaCha20Poly1305 } = await freshModule();
    expect(await hasNativeChaCha20Poly1305()).toBe(false);
  });

  it('is false for an implementation whose output differs', async () => {
    fakeNative({
      encrypt: (key, nonce, data) => {
        const sealed = noble.encrypt(key, nonce, data);
        sealed[0] ^= 1;
        return sealed;
      },
      decrypt: noble.decrypt,
    });
    const { hasNativeChaCha20Poly1305 } = await freshModule();
    expect(await hasNativeChaCha20Poly1305()).toBe(false);
  });

  it('is false for an implementation that skips the tag check', async () => {
    fakeNative({ encrypt: noble.encrypt, decrypt: (key, nonce, data) => noble.encrypt(key, nonce, data.subarray(0, data.length - 16)).subarray(0, data.length - 16) });
    const { hasNativeChaCha20Poly1305 } = await freshModule();
    expect(await hasNativeChaCha20Poly1305()).toBe(false);
  });
});

describe('nativeAsyncAead', () => {
  it('checks lengths before calling WebCrypto', async () => {
    const { nativeAsyncAead } = await freshModule();
    await expect(nativeAsyncAead.seal(new Uint8Array(31), new Uint8Array(12), new Uint8Array(0))).rejects.toThrow(RangeError);
    await expect(nativeAsyncAead.seal(new Uint8Array(32), new Uint8Array(8), new Uint8Array(0))).rejects.toThrow(RangeError);
    await expect(nativeAsyncAead.open(new Uint8Array(32), new Uint8Array(12), new Uint8Array(15))).rejects.toThrow(RangeError);
  });

  it('seals and opens through WebCrypto with empty AAD, as noble does', async () => {
    fakeNative(noble);
    const { nativeAsyncAead } = await freshModule();
    const key = new Uint8Array(32).fill(1);
    const nonce = new Uint8Array(12).fill(2);
    const plaintext = new TextEncoder().encode('hello');
    const sealed = await nativeAsyncAead.seal(key, nonce, plaintext);
    expect(sealed).toEqual(chacha20poly1305(key, nonce).encrypt(plaintext));
    expect(await nativeAsyncAead.open(key, nonce, sealed)).toEqual(plaintext);
    const call = vi.mocked(crypto.subtle.encrypt).mock.calls[0]!;
    expect(call[0]).not.toHaveProperty('additionalData');
  });
});
