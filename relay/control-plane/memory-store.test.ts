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
});
