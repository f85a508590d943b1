import { describe, expect, it } from 'vitest';
import { MemoryControlPlaneStore } from './memory-store.js';
import { generateSigningKey } from './signing-keys.js';
import { DuplicateRecordError, StoreFullError, type DaemonRecord } from './store.js';

const record = (daemonId: string): DaemonRecord => ({ daemonId, identityPublicKey: 'k', label: '', apiKeyHash: '0'.repeat(64), createdAt: 0 });

describe('MemoryControlPlaneStore', () => {
  it('bounds daemons and refuses duplicates', async () => {
    const store = new MemoryControlPlaneStore({ maxDaemons: 2 });
    await store.insertDaemon(record('a'));
    await expect(store.insertDaemon(record('a'))).rejects.toBeInstanceOf(DuplicateRecordError);
    await store.insertDaemon(record('b'));
    await expect(store.insertDaemon(record('c'))).rejects.toBeInstanceOf(StoreFullError);
    expect(await store.getDaemon('c')).toBeUndefined();
  });

  it('returns copies, so callers cannot change stored records', async () => {
    const store = new MemoryControlPlaneStore();
    await store.insertDaemon(record('a'));
    const got = (await store.getDaemon('a'))!;
    got.label = 'changed';
    expect((await store.getDaemon('a'))!.label).toBe('');
  });

  it('bounds signing keys', async () => {
    const store = new MemoryControlPlaneStore({ maxSigningKeys: 1 });
    await store.insertSigningKey(await generateSigningKey(1));
    await expect(store.insertSigningKey(await generateSigningKey(2))).rejects.toBeInstanceOf(StoreFullError);
    expect(await store.listSigningKeys()).toHaveLength(1);
    await store.close();
    await store.close();
  });

  it('bounds devices, codes and challenges (store_full)', async () => {
    const store = new MemoryControlPlaneStore({ maxDevices: 1, maxQuickConnects: 1, maxChallenges: 1 });
    await store.insertDaemon(record('d'));
    const device = (deviceId: string) => ({ deviceId, daemonId: 'd', publicKey: 'pk', label: '', createdAt: 0 });
    await store.insertDevice(device('v1'), 10);
    await expect(store.insertDevice(device('v2'), 10)).rejects.toBeInstanceOf(StoreFullError);
    const code = (codeHash: string) => ({ codeHash, daemonId: 'd', createdAt: 0, expiresAt: 1000 });
    await store.insertQuickConnect(code('a'), { max: 10, windowMs: 60_000 });
    await expect(store.insertQuickConnect(code('b'), { max: 10, windowMs: 60_000 })).rejects.toBeInstanceOf(StoreFullError);
    await store.insertChallenge({ challenge: 'c1', deviceId: 'v1', createdAt: 0, expiresAt: 1 }, 5);
    await store.insertChallenge({ challenge: 'c2', deviceId: 'v1', createdAt: 1, expiresAt: 2 }, 1); // replaces the device's own oldest
    await expect(store.insertChallenge({ challenge: 'c3', deviceId: 'v2', createdAt: 1, expiresAt: 2 }, 5)).rejects.toBeInstanceOf(StoreFullError);
  });
});
