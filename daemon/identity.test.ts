import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fromBase64Url, toBase64Url } from '../protocol/bytes.js';
import { fingerprint } from '../protocol/fingerprint.js';
import { configPathFor, loadDaemonConfig, saveDaemonConfig } from './daemon-config.js';
import { loadIdentity, loadOrCreateIdentity } from './identity.js';

describe('daemon identity file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sideband-identity-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is created on first run with mode 0600 and loaded unchanged afterwards', async () => {
    const path = join(dir, 'nested', 'identity.json');
    const first = await loadOrCreateIdentity(path);
    expect(first.created).toBe(true);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const json = JSON.parse(await readFile(path, 'utf8')) as { version: number; seed: string; publicKey: string };
    expect(json.version).toBe(1);
    expect(fromBase64Url(json.seed)).toHaveLength(32);
    expect(json.publicKey).toBe(toBase64Url(ed25519.getPublicKey(fromBase64Url(json.seed))));
    expect(first.identity.fingerprint).toBe(fingerprint(first.identity.publicKey));

    const second = await loadOrCreateIdentity(path);
    expect(second.created).toBe(false);
    expect(second.identity.publicKey).toEqual(first.identity.publicKey);
    expect(second.identity.seed).toEqual(first.identity.seed);
  });

  it('two concurrent first runs end with one identity', async () => {
    const path = join(dir, 'identity.json');
    const [a, b] = await Promise.all([loadOrCreateIdentity(path), loadOrCreateIdentity(path)]);
    expect(a.identity.publicKey).toEqual(b.identity.publicKey);
    expect([a.created, b.created].filter(Boolean)).toHaveLength(1);
  });

  it('refuses a group- or world-readable file', async () => {
    const path = join(dir, 'identity.json');
    await loadOrCreateIdentity(path);
    await chmod(path, 0o644);
    await expect(loadOrCreateIdentity(path)).rejects.toMatchObject({ code: 'file_insecure', path });
    await chmod(path, 0o640);
    await expect(loadIdentity(path)).rejects.toMatchObject({ code: 'file_insecure' });
  });

  it('refuses malformed files with file_malformed', async () => {
    const { identity } = await loadOrCreateIdentity(join(dir, 'good.json'));
    const seed = toBase64Url(identity.seed);
    const publicKey = toBase64Url(identity.publicKey);
    const other = toBase64Url(ed25519.getPublicKey(new Uint8Array(32).fill(7)));
    const cases = [
      'not json',
      '[]',
      'null',
      JSON.stringify({ version: 2, seed, publicKey }),
      JSON.stringify({ seed, publicKey }),
      JSON.stringify({ version: 1, seed: seed.slice(1), publicKey }),
      JSON.stringify({ version: 1, seed: `${seed}=`, publicKey }),
      JSON.stringify({ version: 1, seed: 42, publicKey }),
      JSON.stringify({ version: 1, seed }),
      JSON.stringify({ version: 1, seed, publicKey: other }),
    ];
    for (const [i, text] of cases.entries()) {
      const path = join(dir, `bad-${i}.json`);
      await writeFile(path, text, { mode: 0o600 });
      await expect(loadIdentity(path), text).rejects.toMatchObject({ name: 'FileError', code: 'file_malformed' });
    }
  });

  it('keeps the registration config next to the identity, 0600', async () => {
    const identityPath = join(dir, 'identity.json');
    const path = configPathFor(identityPath);
    expect(path).toBe(join(dir, 'identity.config.json'));
    expect(await loadDaemonConfig(path)).toBeUndefined();
    await saveDaemonConfig(path, { relay: 'http://127.0.0.1:1', daemonId: 'd', apiKey: 'k' });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await loadDaemonConfig(path)).toEqual({ relay: 'http://127.0.0.1:1', daemonId: 'd', apiKey: 'k' });
    await writeFile(path, JSON.stringify({ version: 1, daemonId: '' }), { mode: 0o600 });
    await expect(loadDaemonConfig(path)).rejects.toMatchObject({ code: 'file_malformed' });
  });
});
