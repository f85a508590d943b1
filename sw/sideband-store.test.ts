// fake-indexeddb stands in for the browser's IndexedDB here (Node has none); the browser
// end-to-end tests exercise the real one in Chromium and Firefox with the built worker.
import 'fake-indexeddb/auto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { openDB } from 'idb';
import { afterEach, describe, expect, it } from 'vitest';
import { toBase64Url } from '../protocol/bytes.js';
import { createDeviceKey, signWithDeviceKey } from './device-key.js';
import { SidebandStore, STORE_LIMITS, StoreError, type InflightRecord, type SidebandStoreOptions, type StoredDevice } from './sideband-store.js';

let counter = 0;
const opened: SidebandStore[] = [];

afterEach(() => {
  for (const store of opened.splice(0)) store.close();
});

async function openStore(options?: SidebandStoreOptions): Promise<{ store: SidebandStore; name: string }> {
  const name = `sideband-test-${++counter}`;
  const store = await SidebandStore.open(name, options);
  opened.push(store);
  return { store, name };
}

/** Writes straight into an object store, past every check: an older version or a tampered DB. */
async function rawPut(name: string, storeName: 'meta' | 'pins' | 'inflight', value: unknown, key?: string): Promise<void> {
  const db = await openDB(name);
  await db.put(storeName, value, key);
  db.close();
}

async function rawAll(name: string, storeName: 'meta' | 'pins' | 'inflight'): Promise<unknown[]> {
  const db = await openDB(name);
  const all = await db.getAll(storeName);
  db.close();
  return all;
}

function key32(fill: number): Uint8Array {
  return new Uint8Array(32).fill(fill);
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected a rejection with code ${code}`).toBeInstanceOf(StoreError);
  expect((error as StoreError).code).toBe(code);
}

async function makeDevice(): Promise<{ device: StoredDevice; publicKey: Uint8Array }> {
  const { privateKey, publicKey } = await createDeviceKey();
  const device: StoredDevice = {
    deviceId: 'dev-1',
    daemonId: 'daemon-1',
    relayUrl: 'https://relay.example/base',
    daemonIdentityPublicKey: toBase64Url(key32(7)),
    label: 'laptop',
    pairedAt: 1_700_000_000_000,
    privateKey,
    publicKey: toBase64Url(publicKey),
  };
  return { device, publicKey };
}

function inflight(id: string, at: number, over: Partial<InflightRecord> = {}): InflightRecord {
  return { id, bootId: 'boot-old', clientId: 'client-1', method: 'POST', url: 'https://app.example/sideband/x', at, ...over };
}

describe('SidebandStore schema', () => {
  it('creates version 1 with its object stores, and close() is idempotent', async () => {
    const { store, name } = await openStore();
    store.close();
    store.close();
    const db = await openDB(name);
    expect(db.version).toBe(1);
    expect([...db.objectStoreNames].sort()).toEqual(['inflight', 'meta', 'pins']);
    expect([...db.transaction('inflight').store.indexNames].sort()).toEqual(['at', 'orphan']);
    db.close();
  });

  it('steps aside for a newer schema version instead of blocking it', async () => {
    const { name } = await openStore();
    let blocked = false;
    const newer = await openDB(name, 2, {
      blocked: () => {
        blocked = true;
      },
    });
    expect(blocked).toBe(false);
    expect(newer.version).toBe(2);
    newer.close();
  });

  it('keeps data across reopening', async () => {
    const { store, name } = await openStore();
    await store.pins.pin('d', key32(1));
    store.close();
    const again = await SidebandStore.open(name);
    opened.push(again);
    expect(await again.pins.get('d')).toEqual(key32(1));
  });

  it('refuses limits that cannot work', async () => {
    await expect(SidebandStore.open('bad-limits', { limits: { maxPins: 0 } })).rejects.toThrow(RangeError);
    await expect(SidebandStore.open('bad-limits', { limits: { inflightTtlMs: Number.NaN } })).rejects.toThrow(RangeError);
    expect(STORE_LIMITS).toEqual({ maxInflight: 1000, inflightTtlMs: 600_000, maxPins: 1000 });
  });
});

describe('SidebandStore pins', () => {
  it('first pin wins, approve replaces, remove forgets', async () => {
    const { store } = await openStore();
    expect(await store.pins.get('d')).toBeUndefined();
    expect(await store.pins.pin('d', key32(1))).toEqual(key32(1));
    // A different key never replaces the pin; the key in force comes back.
    expect(await store.pins.pin('d', key32(2))).toEqual(key32(1));
    expect(await store.pins.get('d')).toEqual(key32(1));
    await store.pins.approve('d', key32(2));
    expect(await store.pins.get('d')).toEqual(key32(2));
    await store.pins.remove('d');
    expect(await store.pins.get('d')).toBeUndefined();
    expect(await store.pins.pin('d', key32(3))).toEqual(key32(3));
  });

  it('returns copies and stores exactly 32 bytes of a larger buffer', async () => {
    const { store, name } = await openStore();
    const frame = new Uint8Array(4096).fill(9);
    const key = frame.subarray(100, 132);
    const result = await store.pins.pin('d', key);
    result.fill(0);
    key.fill(0);
    expect(await store.pins.get('d')).toEqual(key32(9));
    const [record] = (await rawAll(name, 'pins')) as { key: Uint8Array }[];
    expect(record!.key.buffer.byteLength).toBe(32);
  });

  it('first pin wins under concurrency', async () => {
    const { store } = await openStore();
    const results = await Promise.all([store.pins.pin('d', key32(1)), store.pins.pin('d', key32(2))]);
    expect(results).toEqual([key32(1), key32(1)]);
  });

  it('is bounded by maxPins', async () => {
    const { store, name } = await openStore({ limits: { maxPins: 2 } });
    await store.pins.pin('a', key32(1));
    await store.pins.pin('b', key32(2));
    await expectCode(store.pins.pin('c', key32(3)), 'store_full');
    await expectCode(store.pins.approve('c', key32(3)), 'store_full');
    expect(await rawAll(name, 'pins')).toHaveLength(2);
    // Existing daemons need no room.
    expect(await store.pins.pin('a', key32(5))).toEqual(key32(1));
    await store.pins.approve('a', key32(4));
    await store.pins.remove('b');
    expect(await store.pins.pin('c', key32(3))).toEqual(key32(3));
  });

  it('rejects hostile keys and ids', async () => {
    const { store, name } = await openStore();
    await expect(store.pins.pin('d', new Uint8Array(31))).rejects.toThrow(TypeError);
    await expect(store.pins.pin('d', new Uint8Array(33))).rejects.toThrow(TypeError);
    await expect(store.pins.approve('d', new Uint8Array(31))).rejects.toThrow(TypeError);
    await expect(store.pins.pin('d', Array.from(key32(1)) as unknown as Uint8Array)).rejects.toThrow(TypeError);
    await expect(store.pins.pin('', key32(1))).rejects.toThrow(TypeError);
    await expect(store.pins.get(42 as unknown as string)).rejects.toThrow(TypeError);
    expect(await rawAll(name, 'pins')).toHaveLength(0);
  });

  it('reports a malformed pin as store_malformed, and approve repairs it', async () => {
    const { store, name } = await openStore();
    await rawPut(name, 'pins', { daemonId: 'd', key: new Uint8Array(31) });
    await expectCode(store.pins.get('d'), 'store_malformed');
    await expectCode(store.pins.pin('d', key32(1)), 'store_malformed');
    await rawPut(name, 'pins', { daemonId: 'e', key: 'AAAA' });
    await expectCode(store.pins.get('e'), 'store_malformed');
    await store.pins.approve('d', key32(1));
    expect(await store.pins.get('d')).toEqual(key32(1));
  });
});

describe('SidebandStore device', () => {
  it('round-trips a device with its non-extractable CryptoKey, which still signs', async () => {
    const { store } = await openStore();
    const { device, publicKey } = await makeDevice();
    expect(await store.getDevice()).toBeUndefined();
    await store.saveDevice({ ...device, extra: 'dropped' } as StoredDevice);
    const read = await store.getDevice();
    expect(read).toBeDefined();
    const { privateKey, ...rest } = read!;
    const { privateKey: _original, ...expected } = device;
    expect(rest).toEqual(expected);
    expect(privateKey).toBeInstanceOf(CryptoKey);
    expect(privateKey.extractable).toBe(false);
    expect(privateKey.type).toBe('private');
    const message = new TextEncoder().encode('challenge');
    const signature = await signWithDeviceKey(privateKey, message);
    expect(ed25519.verify(signature, message, publicKey)).toBe(true);
  });

  it('refuses to store a device that a stolen database could impersonate, or a malformed one', async () => {
    const { store } = await openStore();
    const { device } = await makeDevice();
    const extractable = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
    await expect(store.saveDevice({ ...device, privateKey: extractable.privateKey })).rejects.toThrow(/non-extractable/);
    await expect(store.saveDevice({ ...device, privateKey: extractable.publicKey })).rejects.toThrow(TypeError);
    await expect(store.saveDevice({ ...device, publicKey: toBase64Url(new Uint8Array(31)) })).rejects.toThrow(TypeError);
    await expect(store.saveDevice({ ...device, daemonIdentityPublicKey: 'not base64url!' })).rejects.toThrow(TypeError);
    await expect(store.saveDevice({ ...device, relayUrl: 'not a url' })).rejects.toThrow(TypeError);
    await expect(store.saveDevice({ ...device, pairedAt: Number.NaN })).rejects.toThrow(TypeError);
    await expect(store.saveDevice({ ...device, deviceId: '' })).rejects.toThrow(TypeError);
    expect(await store.getDevice()).toBeUndefined();
  });

  it('reports a malformed device record as store_malformed', async () => {
    const { store, name } = await openStore();
    const { device } = await makeDevice();
    await rawPut(name, 'meta', 'garbage', 'device');
    await expectCode(store.getDevice(), 'store_malformed');
    await rawPut(name, 'meta', { ...device, privateKey: 'not a key' }, 'device');
    await expectCode(store.getDevice(), 'store_malformed');
    await rawPut(name, 'meta', { ...device, pairedAt: '2024' }, 'device');
    await expectCode(store.getDevice(), 'store_malformed');
    const extractable = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
    await rawPut(name, 'meta', { ...device, privateKey: extractable.privateKey }, 'device');
    await expectCode(store.getDevice(), 'store_malformed');
  });
});

describe('SidebandStore pending identity', () => {
  it('round-trips and clears', async () => {
    const { store } = await openStore();
    expect(await store.getPendingIdentity()).toBeUndefined();
    await store.setPendingIdentity({ daemonId: 'd', key: key32(4) });
    expect(await store.getPendingIdentity()).toEqual({ daemonId: 'd', key: key32(4) });
    await store.setPendingIdentity(undefined);
    expect(await store.getPendingIdentity()).toBeUndefined();
  });

  it('rejects hostile input and reports malformed records', async () => {
    const { store, name } = await openStore();
    await expect(store.setPendingIdentity({ daemonId: 'd', key: new Uint8Array(31) })).rejects.toThrow(TypeError);
    await expect(store.setPendingIdentity({ daemonId: '', key: key32(1) })).rejects.toThrow(TypeError);
    await rawPut(name, 'meta', { daemonId: 'd', key: [1, 2, 3] }, 'pendingIdentity');
    await expectCode(store.getPendingIdentity(), 'store_malformed');
  });
});

describe('SidebandStore forget', () => {
  it('clears device, pins, pending identity and in-flight records', async () => {
    const { store, name } = await openStore();
    const { device } = await makeDevice();
    await store.saveDevice(device);
    await store.pins.pin('d', key32(1));
    await store.setPendingIdentity({ daemonId: 'd', key: key32(2) });
    await store.addInflight(inflight('r1', Date.now()));
    await store.forget();
    expect(await store.getDevice()).toBeUndefined();
    expect(await store.pins.get('d')).toBeUndefined();
    expect(await store.getPendingIdentity()).toBeUndefined();
    expect(await rawAll(name, 'inflight')).toHaveLength(0);
    expect(await rawAll(name, 'meta')).toHaveLength(0);
  });

  it('also clears malformed records, so it is the way out of store_malformed', async () => {
    const { store, name } = await openStore();
    await rawPut(name, 'meta', 42, 'device');
    await rawPut(name, 'pins', { daemonId: 'd' });
    await store.forget();
    expect(await store.getDevice()).toBeUndefined();
    expect(await store.pins.get('d')).toBeUndefined();
  });
});

describe('SidebandStore in-flight log', () => {
  it('drops expired records when adding', async () => {
    let now = 1_000_000;
    const { store, name } = await openStore({ now: () => now, limits: { inflightTtlMs: 1000 } });
    await store.addInflight(inflight('old', now));
    now += 1000; // exactly the TTL: expired
    await store.addInflight(inflight('new', now));
    expect(((await rawAll(name, 'inflight')) as InflightRecord[]).map((r) => r.id)).toEqual(['new']);
  });

  it('keeps at most maxInflight, dropping the oldest', async () => {
    const now = 1_000_000;
    const { store, name } = await openStore({ now: () => now, limits: { maxInflight: 3 } });
    // Added out of order: the bound goes by `at`, not by insertion.
    for (const at of [5, 1, 4, 2, 3]) await store.addInflight(inflight(`r${at}`, now - 100 + at));
    const ids = ((await rawAll(name, 'inflight')) as InflightRecord[]).map((r) => r.id).sort();
    expect(ids).toEqual(['r3', 'r4', 'r5']);
  });

  it('replaces a record with the same id and removes by id', async () => {
    const { store, name } = await openStore();
    await store.addInflight(inflight('r', Date.now(), { url: 'https://a/1' }));
    await store.addInflight(inflight('r', Date.now(), { url: 'https://a/2' }));
    expect(((await rawAll(name, 'inflight')) as InflightRecord[]).map((r) => r.url)).toEqual(['https://a/2']);
    await store.removeInflight('r');
    await store.removeInflight('r');
    expect(await rawAll(name, 'inflight')).toHaveLength(0);
  });

  it('rejects hostile records', async () => {
    const { store, name } = await openStore();
    await expect(store.addInflight(inflight('r', Number.NaN))).rejects.toThrow(TypeError);
    await expect(store.addInflight(inflight('', Date.now()))).rejects.toThrow(TypeError);
    await expect(store.addInflight(inflight('r', Date.now(), { url: 7 as unknown as string }))).rejects.toThrow(TypeError);
    await expect(store.addInflight(null as unknown as InflightRecord)).rejects.toThrow(TypeError);
    expect(await rawAll(name, 'inflight')).toHaveLength(0);
    // FetchEvent.clientId may be empty.
    await store.addInflight(inflight('r', Date.now(), { clientId: '' }));
    expect(await rawAll(name, 'inflight')).toHaveLength(1);
  });
});

describe('SidebandStore takeOrphan', () => {
  it('returns and removes the oldest matching record of another boot', async () => {
    const now = 1_000_000;
    const { store, name } = await openStore({ now: () => now });
    await store.addInflight(inflight('mine', now - 30, { bootId: 'boot-new' }));
    await store.addInflight(inflight('newer', now - 10));
    await store.addInflight(inflight('older', now - 20));
    await store.addInflight(inflight('other-client', now - 40, { clientId: 'client-2' }));
    await store.addInflight(inflight('other-method', now - 40, { method: 'PUT' }));
    await store.addInflight(inflight('other-url', now - 40, { url: 'https://app.example/sideband/y' }));
    const take = (): Promise<InflightRecord | undefined> => store.takeOrphan('boot-new', 'client-1', 'POST', 'https://app.example/sideband/x');
    expect(await take()).toEqual(inflight('older', now - 20));
    expect(await take()).toEqual(inflight('newer', now - 10));
    expect(await take()).toBeUndefined();
    const left = ((await rawAll(name, 'inflight')) as InflightRecord[]).map((r) => r.id).sort();
    expect(left).toEqual(['mine', 'other-client', 'other-method', 'other-url']);
  });

  it('ignores expired records even before they are purged', async () => {
    let now = 1_000_000;
    const { store } = await openStore({ now: () => now, limits: { inflightTtlMs: 1000 } });
    await store.addInflight(inflight('r', now));
    now += 1000;
    expect(await store.takeOrphan('boot-new', 'client-1', 'POST', 'https://app.example/sideband/x')).toBeUndefined();
    now -= 1;
    expect(await store.takeOrphan('boot-new', 'client-1', 'POST', 'https://app.example/sideband/x')).toEqual(inflight('r', 1_000_000));
  });

  it('hands one record to one of two concurrent callers', async () => {
    const { store, name } = await openStore();
    await store.addInflight(inflight('r', Date.now()));
    const second = await SidebandStore.open(name);
    opened.push(second);
    const args = ['boot-new', 'client-1', 'POST', 'https://app.example/sideband/x'] as const;
    const results = await Promise.all([store.takeOrphan(...args), store.takeOrphan(...args), second.takeOrphan(...args)]);
    expect(results.filter((r) => r !== undefined).map((r) => r!.id)).toEqual(['r']);
    expect(await rawAll(name, 'inflight')).toHaveLength(0);
  });

  it('reports a malformed record as store_malformed', async () => {
    const now = Date.now();
    const { store, name } = await openStore({ now: () => now });
    await store.addInflight(inflight('good', now - 20));
    await rawPut(name, 'inflight', { id: 'bad', bootId: 7, clientId: 'client-1', method: 'POST', url: 'https://app.example/sideband/x', at: now - 30 });
    await expectCode(store.takeOrphan('boot-new', 'client-1', 'POST', 'https://app.example/sideband/x'), 'store_malformed');
    expect(await rawAll(name, 'inflight')).toHaveLength(2);
  });

  it('rejects hostile arguments', async () => {
    const { store } = await openStore();
    await expect(store.takeOrphan('', 'c', 'POST', 'u')).rejects.toThrow(TypeError);
    await expect(store.takeOrphan('b', 'c', 'POST', undefined as unknown as string)).rejects.toThrow(TypeError);
  });
});
