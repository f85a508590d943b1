import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { toBase64Url } from '../protocol/bytes.js';
import { deviceKeyFromSeed, generateDeviceKey, loadDeviceKey, loadOrCreateDeviceKey } from './device-key.js';

describe('device key file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sideband-device-key-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is created once with mode 0600, atomically, and loads back as the same key', async () => {
    const path = join(dir, 'keys', 'device-key.json');
    const first = await loadOrCreateDeviceKey(path);
    expect(first.created).toBe(true);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(join(dir, 'keys'))).toEqual(['device-key.json']); // no temp file left behind
    const json = JSON.parse(await readFile(path, 'utf8'));
    expect(json).toEqual({ version: 1, seed: expect.any(String), publicKey: first.key.publicKeyBase64url });
    const second = await loadOrCreateDeviceKey(path);
    expect(second.created).toBe(false);
    expect(second.key.publicKeyBase64url).toBe(first.key.publicKeyBase64url);
    const message = new TextEncoder().encode('hello');
    expect(ed25519.verify(second.key.sign(message), message, first.key.publicKey)).toBe(true);
  });

  it('ends with one key when two processes create it at once', async () => {
    const path = join(dir, 'device-key.json');
    const results = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateDeviceKey(path)));
    expect(new Set(results.map((r) => r.key.publicKeyBase64url)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
  });

  it('refuses a file others can read, and a corrupted one', async () => {
    const path = join(dir, 'device-key.json');
    await loadOrCreateDeviceKey(path);
    await chmod(path, 0o644);
    await expect(loadDeviceKey(path)).rejects.toMatchObject({ code: 'file_insecure' });
    const other = toBase64Url(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));
    const json = JSON.parse(await readFile(path, 'utf8'));
    await writeFile(path, JSON.stringify({ ...json, publicKey: other }), { mode: 0o600 });
    await chmod(path, 0o600);
    await expect(loadDeviceKey(path)).rejects.toMatchObject({ code: 'file_malformed' });
    await writeFile(path, '{"version":2}');
    await expect(loadDeviceKey(path)).rejects.toMatchObject({ code: 'file_malformed' });
    await writeFile(path, 'not json');
    await expect(loadDeviceKey(path)).rejects.toMatchObject({ code: 'file_malformed' });
    expect(await loadDeviceKey(join(dir, 'absent.json'))).toBeUndefined();
  });

  it('never exposes the seed through the key object', () => {
    const seed = new Uint8Array(32).fill(3);
    const key = deviceKeyFromSeed(seed);
    seed.fill(0); // the key keeps its own copy
    expect(JSON.stringify(key)).not.toContain(toBase64Url(new Uint8Array(32).fill(3)));
    expect(Object.keys(key).sort()).toEqual(['publicKey', 'publicKeyBase64url', 'sign']);
    expect(key.publicKeyBase64url).toBe(toBase64Url(ed25519.getPublicKey(new Uint8Array(32).fill(3))));
    key.publicKey.fill(0); // a copy: the key's own public key is unchanged
    expect(key.publicKeyBase64url).toBe(toBase64Url(key.publicKey));
    expect(generateDeviceKey().publicKeyBase64url).not.toBe(generateDeviceKey().publicKeyBase64url);
    expect(() => deviceKeyFromSeed(new Uint8Array(31))).toThrow(RangeError);
  });
});
