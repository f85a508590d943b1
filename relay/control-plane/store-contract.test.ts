import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryControlPlaneStore } from './memory-store.js';
import { generateSigningKey } from './signing-keys.js';
import { SqliteControlPlaneStore } from './sqlite-store.js';
import {
  activeSigningKey, DuplicateRecordError, LimitReachedError, QUICK_CONNECT_RETENTION_MS, RateLimitedError, REVOKED_DEVICE_RETENTION_MS,
  type ControlPlaneEvent, type ControlPlaneStore, type DaemonRecord, type DeviceRecord,
} from './store.js';

/**
 * The one store contract, run against every backend (the memory store and SQLite on a real
 * file), so the control plane can rely on the same semantics from each.
 */

const T0 = 1_700_000_000_000;
const daemon = (daemonId: string): DaemonRecord => ({ daemonId, identityPublicKey: 'k', label: '', apiKeyHash: 'a'.repeat(64), createdAt: T0 });
const device = (deviceId: string, daemonId: string, createdAt = T0): DeviceRecord => ({ deviceId, daemonId, publicKey: 'pk', label: 'l', createdAt });
const code = (codeHash: string, daemonId: string, createdAt = T0, ttlMs = 300_000) => ({ codeHash, daemonId, createdAt, expiresAt: createdAt + ttlMs });
const LIMIT = { max: 3, windowMs: 60_000 };

const backends: [string, () => Promise<{ store: ControlPlaneStore; cleanup: () => Promise<void> }>][] = [
  ['memory', async () => ({ store: new MemoryControlPlaneStore(), cleanup: async () => {} })],
  ['sqlite', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sideband-store-'));
    return { store: new SqliteControlPlaneStore(join(dir, 'cp.sqlite')), cleanup: () => rm(dir, { recursive: true, force: true }) };
  }],
];

describe.each(backends)('ControlPlaneStore contract: %s', (_name, make) => {
  let store: ControlPlaneStore;
  let cleanup: () => Promise<void>;
  let events: ControlPlaneEvent[];

  beforeEach(async () => {
    ({ store, cleanup } = await make());
    events = [];
    store.subscribe((e) => events.push(e));
    await store.insertDaemon(daemon('d1'));
    await store.insertDaemon(daemon('d2'));
  });
  afterEach(async () => {
    await store.close();
    await store.close(); // idempotent
    await cleanup();
  });

  it('stores daemons, refuses duplicates, and swaps the API key hash only from the expected value', async () => {
    await expect(store.insertDaemon(daemon('d1'))).rejects.toBeInstanceOf(DuplicateRecordError);
    expect(await store.getDaemon('d1')).toEqual(daemon('d1'));
    expect(await store.getDaemon('nope')).toBeUndefined();
    expect(await store.replaceApiKeyHash('d1', 'b'.repeat(64), 'c'.repeat(64))).toBe(false);
    expect(await store.replaceApiKeyHash('d1', 'a'.repeat(64), 'c'.repeat(64))).toBe(true);
    expect(await store.replaceApiKeyHash('d1', 'a'.repeat(64), 'd'.repeat(64))).toBe(false); // the old hash is gone
    expect((await store.getDaemon('d1'))!.apiKeyHash).toBe('c'.repeat(64));
    expect(await store.replaceApiKeyHash('nope', 'a'.repeat(64), 'c'.repeat(64))).toBe(false);
  });

  it('returns copies, so callers cannot change stored records', async () => {
    (await store.getDaemon('d1'))!.label = 'changed';
    expect((await store.getDaemon('d1'))!.label).toBe('');
    await store.insertDevice(device('v1', 'd1'), 10);
    (await store.getDevice('v1'))!.label = 'changed';
    expect((await store.getDevice('v1'))!.label).toBe('l');
  });

  it('rotates signing keys atomically: at most two remain, the previous one retires', async () => {
    const k1 = await generateSigningKey(T0);
    await store.insertSigningKey(k1);
    await expect(store.insertSigningKey(k1)).rejects.toBeInstanceOf(DuplicateRecordError);
    const k2 = await generateSigningKey(T0 + 1);
    await store.rotateSigningKey(k2, T0 + 1000);
    let keys = await store.listSigningKeys();
    expect(keys.map((k) => [k.kid, k.retiresAt])).toEqual([[k1.kid, T0 + 1000], [k2.kid, undefined]]);
    expect(keys[0]!.privateJwk).toEqual(k1.privateJwk);
    expect(activeSigningKey(keys)!.kid).toBe(k2.kid);
    const k3 = await generateSigningKey(T0 + 2);
    await store.rotateSigningKey(k3, T0 + 2000);
    keys = await store.listSigningKeys();
    expect(keys.map((k) => [k.kid, k.retiresAt])).toEqual([[k2.kid, T0 + 2000], [k3.kid, undefined]]);
    expect(events.filter((e) => e.type === 'signing_keys_changed')).toHaveLength(2);
    // A failing rotation (duplicate kid) changes nothing.
    await expect(store.rotateSigningKey(k3, T0 + 3000)).rejects.toBeInstanceOf(DuplicateRecordError);
    expect((await store.listSigningKeys()).map((k) => [k.kid, k.retiresAt])).toEqual([[k2.kid, T0 + 2000], [k3.kid, undefined]]);
    await store.purgeExpired(T0 + 2000);
    expect((await store.listSigningKeys()).map((k) => k.kid)).toEqual([k3.kid]);
  });

  it('consumes a code once: redeemed, then not_found', async () => {
    await store.insertQuickConnect(code('h1', 'd1'), LIMIT);
    await expect(store.insertQuickConnect(code('h1', 'd1'), LIMIT)).rejects.toBeInstanceOf(DuplicateRecordError);
    expect(await store.consumeQuickConnect('h1', T0 + 1)).toEqual({ outcome: 'redeemed', record: code('h1', 'd1') });
    expect(await store.consumeQuickConnect('h1', T0 + 2)).toEqual({ outcome: 'not_found' });
    expect(await store.consumeQuickConnect('unknown', T0)).toEqual({ outcome: 'not_found' });
  });

  it('lets exactly one of many concurrent consumers win', async () => {
    await store.insertQuickConnect(code('h1', 'd1'), LIMIT);
    const outcomes = await Promise.all(Array.from({ length: 25 }, () => store.consumeQuickConnect('h1', T0 + 1)));
    expect(outcomes.filter((o) => o.outcome === 'redeemed')).toHaveLength(1);
    expect(outcomes.filter((o) => o.outcome === 'not_found')).toHaveLength(24);
  });

  it('keeps answering expired and daemon_offline for burned codes until they are purged', async () => {
    await store.insertQuickConnect(code('old', 'd1', T0, 1000), LIMIT);
    expect(await store.consumeQuickConnect('old', T0 + 1000)).toEqual({ outcome: 'expired' });
    expect(await store.consumeQuickConnect('old', T0 + 1001)).toEqual({ outcome: 'expired' });
    await store.insertQuickConnect(code('off', 'd1'), LIMIT);
    expect((await store.consumeQuickConnect('off', T0 + 1)).outcome).toBe('redeemed');
    await store.markQuickConnectOffline('off');
    expect(await store.consumeQuickConnect('off', T0 + 2)).toEqual({ outcome: 'daemon_offline' });
    expect(await store.consumeQuickConnect('off', T0 + 3)).toEqual({ outcome: 'daemon_offline' });
    await store.purgeExpired(T0 + 300_000 + QUICK_CONNECT_RETENTION_MS);
    expect(await store.consumeQuickConnect('off', T0 + 4)).toEqual({ outcome: 'not_found' });
    expect(await store.consumeQuickConnect('old', T0 + 4)).toEqual({ outcome: 'not_found' });
  });

  it('limits code creation per daemon over a sliding window, counting used codes too', async () => {
    for (let i = 0; i < 3; i++) await store.insertQuickConnect(code(`c${i}`, 'd1', T0 + i * 10_000), LIMIT);
    await store.consumeQuickConnect('c0', T0 + 20_000);
    const error = await store.insertQuickConnect(code('c3', 'd1', T0 + 30_000), LIMIT).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAfterMs).toBe(30_000); // when c0 leaves the window
    await store.insertQuickConnect(code('x', 'd2', T0 + 30_000), LIMIT); // another daemon is not affected
    await store.insertQuickConnect(code('c4', 'd1', T0 + 60_001), LIMIT);
    expect((await store.consumeQuickConnect('c3', T0 + 60_002)).outcome).toBe('not_found');
  });

  it('stores devices, limits unrevoked ones per daemon, and revokes with an event', async () => {
    await store.insertDevice(device('v1', 'd1', T0), 2);
    await store.insertDevice(device('v2', 'd1', T0 + 1), 2);
    await expect(store.insertDevice(device('v3', 'd1', T0 + 2), 2)).rejects.toBeInstanceOf(LimitReachedError);
    await expect(store.insertDevice(device('v1', 'd2'), 2)).rejects.toBeInstanceOf(DuplicateRecordError);
    await store.insertDevice(device('w1', 'd2'), 2);
    expect(await store.revokeDevice('v1', 'd2', T0)).toBe(false); // not d2's device
    expect(events).toEqual([]);
    expect(await store.revokeDevice('v1', 'd1', T0 + 5)).toBe(true);
    expect(await store.revokeDevice('v1', 'd1', T0 + 9)).toBe(true); // idempotent, keeps the first time
    expect(events).toEqual([{ type: 'device_revoked', deviceId: 'v1', daemonId: 'd1' }, { type: 'device_revoked', deviceId: 'v1', daemonId: 'd1' }]);
    await store.insertDevice(device('v3', 'd1', T0 + 2), 2); // revoked devices do not count
    await store.touchDevice('v2', T0 + 7);
    const list = await store.listDevices('d1');
    expect(list.map((d) => d.deviceId)).toEqual(['v1', 'v2', 'v3']);
    expect(list[0]).toMatchObject({ revokedAt: T0 + 5 });
    expect(list[1]).toEqual({ ...device('v2', 'd1', T0 + 1), lastSeenAt: T0 + 7 });
    expect(list[2]!.lastSeenAt).toBeUndefined();
    expect(await store.listDevices('nobody')).toEqual([]);
    await store.purgeExpired(T0 + 4 + REVOKED_DEVICE_RETENTION_MS);
    expect(await store.getDevice('v1')).toBeDefined();
    await store.purgeExpired(T0 + 5 + REVOKED_DEVICE_RETENTION_MS);
    expect(await store.getDevice('v1')).toBeUndefined();
    expect(await store.getDevice('v2')).toBeDefined();
  });

  it('consumes challenges once, keeps the newest few per device, and purges expired ones', async () => {
    await store.insertDevice(device('v1', 'd1'), 10);
    await store.insertDevice(device('v2', 'd1'), 10);
    const ch = (challenge: string, deviceId: string, at: number) => ({ challenge, deviceId, createdAt: at, expiresAt: at + 60_000 });
    for (let i = 0; i < 4; i++) await store.insertChallenge(ch(`a${i}`, 'v1', T0 + i), 3);
    await store.insertChallenge(ch('b0', 'v2', T0), 3);
    expect(await store.consumeChallenge('a0')).toBeUndefined(); // dropped as the oldest past 3
    expect(await store.consumeChallenge('a1')).toEqual(ch('a1', 'v1', T0 + 1));
    expect(await store.consumeChallenge('a1')).toBeUndefined();
    await store.purgeExpired(T0 + 60_002);
    expect(await store.consumeChallenge('b0')).toBeUndefined();
    expect(await store.consumeChallenge('a2')).toBeUndefined();
    expect(await store.consumeChallenge('a3')).toEqual(ch('a3', 'v1', T0 + 3));
  });

  it('delivers events to every listener even when one throws, and stops after unsubscribe', async () => {
    const seen: string[] = [];
    store.subscribe(() => {
      throw new Error('listener bug');
    });
    const off = store.subscribe((e) => seen.push(e.type));
    await store.insertDevice(device('v1', 'd1'), 10);
    await store.revokeDevice('v1', 'd1', T0);
    off();
    await store.revokeDevice('v1', 'd1', T0);
    expect(seen).toEqual(['device_revoked']);
    expect(events).toHaveLength(2);
  });
});
