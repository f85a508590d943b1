import { openDB, type DBSchema, type IDBPDatabase, type IDBPTransaction, type StoreNames } from 'idb';
import { fromBase64Url } from '../protocol/bytes.js';
import { checkPinKey, type PinStore } from '../web/pin-store.js';

/**
 * The service worker's durable state in IndexedDB (design.md "Pairing, credentials and
 * storage"): pinned daemon identities, the paired device (its non-extractable key included),
 * a daemon key waiting for the user's approval, and the write-ahead log of non-idempotent
 * requests (service-worker.md "Lifetime": a re-dispatched POST must not run twice unnoticed).
 *
 * Storage choices:
 * - Byte keys (pins, the pending identity) are stored as `Uint8Array` by structured clone,
 *   always as a fresh 32-byte copy: cloning a view clones its whole backing buffer, so a key
 *   sliced out of a frame would otherwise store the frame.
 * - The device's `CryptoKey` is stored by structured clone and stays non-extractable; its public
 *   key and the daemon's are base64url strings, as `StoredDevice` has them.
 * - Every value read back is validated; a malformed one (an older schema, a tampered database)
 *   raises `StoreError` with code `store_malformed` instead of failing deep inside a caller.
 * - Transactions contain IDB requests only: an `await` on WebCrypto or anything else inside one
 *   lets it auto-commit (service-worker.md "Crypto and storage").
 */

export interface StoredDevice {
  deviceId: string;
  daemonId: string;
  relayUrl: string;
  /** base64url of the daemon's 32-byte Ed25519 identity key. */
  daemonIdentityPublicKey: string;
  label?: string;
  pairedAt: number;
  /** Non-extractable Ed25519 private key (sw/device-key.ts). */
  privateKey: CryptoKey;
  /** base64url of the device's 32-byte Ed25519 public key. */
  publicKey: string;
}

/** One non-idempotent request the worker has started and not yet seen through. */
export interface InflightRecord {
  id: string;
  /** The worker instance that started it. */
  bootId: string;
  clientId: string;
  method: string;
  url: string;
  /** Epoch milliseconds. */
  at: number;
}

export interface StoreLimits {
  /** Records kept in the in-flight log; the oldest go first beyond it. */
  maxInflight: number;
  /** Age after which an in-flight record is dropped (and no longer an orphan). */
  inflightTtlMs: number;
  /** Pinned daemons; `pin`/`approve` of one more throws `store_full`. */
  maxPins: number;
}

export const STORE_LIMITS: Readonly<StoreLimits> = Object.freeze({ maxInflight: 1000, inflightTtlMs: 10 * 60_000, maxPins: 1000 });

export interface SidebandStoreOptions {
  limits?: Partial<StoreLimits>;
  /** Clock for in-flight expiry and pin timestamps (tests). */
  now?: () => number;
}

/**
 * | code | meaning |
 * | --- | --- |
 * | store_full | a bounded store is at its limit (`maxPins`) |
 * | store_malformed | a record read back is not what this version writes |
 */
export type StoreErrorCode = 'store_full' | 'store_malformed';

export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    readonly code: StoreErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const DEFAULT_NAME = 'sideband';
/** Bump with a new step in `upgrade` for every schema change. */
const DB_VERSION = 1;
const DEVICE = 'device';
const PENDING_IDENTITY = 'pendingIdentity';

/**
 * Values are `unknown` on purpose: every read goes through a validator, so a record from an
 * older version or a tampered database is caught where it is read.
 */
interface SidebandSchema extends DBSchema {
  /** Singletons under fixed keys: `device` (StoredDevice), `pendingIdentity`. */
  meta: { key: typeof DEVICE | typeof PENDING_IDENTITY; value: unknown };
  /** PinRecord, keyed by daemonId. */
  pins: { key: string; value: unknown };
  /** InflightRecord, keyed by id; `at` for expiry and trimming, `orphan` orders each (clientId, method, url) by time. */
  inflight: { key: string; value: unknown; indexes: { at: number; orphan: [string, string, string, number] } };
}

type Db = IDBPDatabase<SidebandSchema>;
type Name = StoreNames<SidebandSchema>;

interface PinRecord {
  daemonId: string;
  key: Uint8Array;
  pinnedAt: number;
}

/**
 * The worker's IndexedDB, opened once per worker instance.
 *
 *   const store = await SidebandStore.open();
 *   const device = await store.getDevice();
 *   const pinned = await store.pins.pin(daemonId, offeredKey);
 */
export class SidebandStore {
  readonly pins: PinStore;
  private readonly limits: StoreLimits;
  private readonly now: () => number;

  private constructor(
    private readonly db: Db,
    options: SidebandStoreOptions,
  ) {
    this.limits = resolveLimits(options.limits);
    this.now = options.now ?? Date.now;
    this.pins = new IdbPinStore(db, this.limits.maxPins, this.now);
  }

  static async open(name = DEFAULT_NAME, options: SidebandStoreOptions = {}): Promise<SidebandStore> {
    resolveLimits(options.limits); // before touching the database
    const db = await openDB<SidebandSchema>(name, DB_VERSION, {
      upgrade(database, oldVersion) {
        if (oldVersion < 1) {
          database.createObjectStore('meta');
          database.createObjectStore('pins', { keyPath: 'daemonId' });
          const inflight = database.createObjectStore('inflight', { keyPath: 'id' });
          inflight.createIndex('at', 'at');
          inflight.createIndex('orphan', ['clientId', 'method', 'url', 'at']);
        }
      },
      // A newer worker is upgrading the schema: step aside rather than block it. Calls on this
      // instance fail from here on; the worker being replaced has no further use for them.
      blocking(_currentVersion, _blockedVersion, event) {
        (event.target as IDBDatabase).close();
      },
    });
    return new SidebandStore(db, options);
  }

  async getDevice(): Promise<StoredDevice | undefined> {
    const value = await this.db.get('meta', DEVICE);
    if (value === undefined) return undefined;
    const problem = deviceProblem(value);
    if (problem) throw malformed('device', problem);
    return copyDevice(value as StoredDevice);
  }

  async saveDevice(device: StoredDevice): Promise<void> {
    const problem = deviceProblem(device);
    if (problem) throw new TypeError(`saveDevice: ${problem}`);
    await this.db.put('meta', copyDevice(device), DEVICE);
  }

  /** A daemon key offered but not yet approved by the user (sbrp.md §5 TOFU). */
  async getPendingIdentity(): Promise<{ daemonId: string; key: Uint8Array } | undefined> {
    const value = await this.db.get('meta', PENDING_IDENTITY);
    if (value === undefined) return undefined;
    const problem = pendingProblem(value);
    if (problem) throw malformed('pending identity', problem);
    const { daemonId, key } = value as { daemonId: string; key: Uint8Array };
    return { daemonId, key: key.slice() };
  }

  async setPendingIdentity(value: { daemonId: string; key: Uint8Array } | undefined): Promise<void> {
    if (value === undefined) {
      await this.db.delete('meta', PENDING_IDENTITY);
      return;
    }
    checkId('daemonId', value.daemonId);
    checkPinKey(value.key);
    await this.db.put('meta', { daemonId: value.daemonId, key: value.key.slice() }, PENDING_IDENTITY);
  }

  /** Unpairs: clears device, pins, pending identity and the in-flight log in one transaction. */
  async forget(): Promise<void> {
    await transact(this.db, ['meta', 'pins', 'inflight'], async (tx) => {
      await tx.objectStore('meta').clear();
      await tx.objectStore('pins').clear();
      await tx.objectStore('inflight').clear();
    });
  }

  /**
   * Logs a non-idempotent request before it is sent (a record with the same id is replaced).
   * Drops expired records and keeps at most `maxInflight`, the oldest by `at` going first, so the
   * log stays bounded even when removals are missed (a worker stopped mid-request).
   */
  async addInflight(record: InflightRecord): Promise<void> {
    const problem = inflightProblem(record);
    if (problem) throw new TypeError(`addInflight: ${problem}`);
    const { maxInflight, inflightTtlMs } = this.limits;
    const expiredBefore = this.now() - inflightTtlMs;
    await transact(this.db, ['inflight'], async (tx) => {
      const store = tx.objectStore('inflight');
      await store.put(copyInflight(record));
      const byAge = store.index('at');
      let cursor = await byAge.openCursor(IDBKeyRange.upperBound(expiredBefore));
      while (cursor) {
        await cursor.delete();
        cursor = await cursor.continue();
      }
      let excess = (await store.count()) - maxInflight;
      if (excess <= 0) return;
      cursor = await byAge.openCursor();
      while (cursor && excess-- > 0) {
        await cursor.delete();
        cursor = await cursor.continue();
      }
    });
  }

  async removeInflight(id: string): Promise<void> {
    checkId('id', id);
    await this.db.delete('inflight', id);
  }

  /**
   * Removes and returns the oldest unexpired record with `bootId !== bootId` matching
   * clientId, method and url, in one readwrite transaction, so two concurrent callers never
   * get the same record; undefined if none. Such a record is a request an earlier worker
   * instance started and Chromium has now re-dispatched (service-worker.md "Lifetime").
   */
  async takeOrphan(bootId: string, clientId: string, method: string, url: string): Promise<InflightRecord | undefined> {
    checkId('bootId', bootId);
    checkString('clientId', clientId);
    checkId('method', method);
    checkString('url', url);
    const expiredBefore = this.now() - this.limits.inflightTtlMs;
    // Strings sort after numbers in IndexedDB, so the Infinity bound also keeps out a record
    // whose `at` is not a number.
    const range = IDBKeyRange.bound([clientId, method, url, expiredBefore], [clientId, method, url, Infinity], true, false);
    return transact(this.db, ['inflight'], async (tx) => {
      let cursor = await tx.objectStore('inflight').index('orphan').openCursor(range);
      while (cursor) {
        const problem = inflightProblem(cursor.value);
        if (problem) throw malformed('in-flight record', problem);
        const record = cursor.value as InflightRecord;
        if (record.bootId !== bootId) {
          await cursor.delete();
          return copyInflight(record);
        }
        cursor = await cursor.continue();
      }
      return undefined;
    });
  }

  /** Idempotent. */
  close(): void {
    this.db.close();
  }
}

/** `PinStore` over the `pins` object store, with `MemoryPinStore`'s semantics. */
class IdbPinStore implements PinStore {
  constructor(
    private readonly db: Db,
    private readonly maxPins: number,
    private readonly now: () => number,
  ) {}

  async get(daemonId: string): Promise<Uint8Array | undefined> {
    checkId('daemonId', daemonId);
    const value = await this.db.get('pins', daemonId);
    return value === undefined ? undefined : readPin(value, daemonId).key.slice();
  }

  /** First contact only: never replaces a different key; returns the key in force. */
  async pin(daemonId: string, key: Uint8Array): Promise<Uint8Array> {
    checkId('daemonId', daemonId);
    checkPinKey(key);
    const record: PinRecord = { daemonId, key: key.slice(), pinnedAt: this.now() };
    return transact(this.db, ['pins'], async (tx) => {
      const store = tx.objectStore('pins');
      const existing = await store.get(daemonId);
      if (existing !== undefined) return readPin(existing, daemonId).key.slice();
      if ((await store.count()) >= this.maxPins) throw full(this.maxPins);
      await store.put(record);
      return record.key.slice();
    });
  }

  /** Replaces the pin: only after the user compared fingerprints and approved. */
  async approve(daemonId: string, key: Uint8Array): Promise<void> {
    checkId('daemonId', daemonId);
    checkPinKey(key);
    const record: PinRecord = { daemonId, key: key.slice(), pinnedAt: this.now() };
    await transact(this.db, ['pins'], async (tx) => {
      const store = tx.objectStore('pins');
      // Replacing needs no room; a malformed old record is simply overwritten.
      if ((await store.getKey(daemonId)) === undefined && (await store.count()) >= this.maxPins) throw full(this.maxPins);
      await store.put(record);
    });
  }

  async remove(daemonId: string): Promise<void> {
    checkId('daemonId', daemonId);
    await this.db.delete('pins', daemonId);
  }
}

/**
 * Runs `body` in one readwrite transaction and waits for the commit. A throw from `body` aborts
 * it, so nothing it wrote lands. `body` must await IDB requests only.
 */
async function transact<S extends Name[], T>(
  db: Db,
  stores: S,
  body: (tx: IDBPTransaction<SidebandSchema, S, 'readwrite'>) => Promise<T>,
): Promise<T> {
  const tx = db.transaction(stores, 'readwrite');
  try {
    const result = await body(tx);
    await tx.done;
    return result;
  } catch (error) {
    try {
      tx.abort();
    } catch {
      // Already committed or aborted (a failed request aborts it by itself).
    }
    // The abort rejects `done`; the caller gets `error` instead.
    tx.done.catch(() => undefined);
    throw error;
  }
}

function readPin(value: unknown, daemonId: string): PinRecord {
  const record = value as Partial<PinRecord> | null;
  if (typeof record !== 'object' || record === null) throw malformed('pin', 'not an object');
  if (record.daemonId !== daemonId) throw malformed('pin', 'daemonId does not match its key');
  if (!(record.key instanceof Uint8Array) || record.key.length !== 32) throw malformed('pin', 'key is not 32 bytes');
  return record as PinRecord;
}

function deviceProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'not an object';
  const d = value as Partial<Record<keyof StoredDevice, unknown>>;
  for (const field of ['deviceId', 'daemonId'] as const) {
    if (!isId(d[field])) return `${field} must be a non-empty string`;
  }
  if (typeof d.relayUrl !== 'string' || !isUrl(d.relayUrl)) return 'relayUrl must be an absolute URL';
  for (const field of ['daemonIdentityPublicKey', 'publicKey'] as const) {
    if (!isKey32(d[field])) return `${field} must be base64url of 32 bytes`;
  }
  if (d.label !== undefined && typeof d.label !== 'string') return 'label must be a string';
  if (typeof d.pairedAt !== 'number' || !Number.isFinite(d.pairedAt)) return 'pairedAt must be a finite number';
  const key = d.privateKey;
  if (!(key instanceof CryptoKey)) return 'privateKey must be a CryptoKey';
  if (key.type !== 'private' || key.algorithm.name !== 'Ed25519') return 'privateKey must be an Ed25519 private key';
  // design.md: nothing in the database may let a stolen copy impersonate the device.
  if (key.extractable) return 'privateKey must be non-extractable';
  return undefined;
}

function pendingProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'not an object';
  const p = value as { daemonId?: unknown; key?: unknown };
  if (!isId(p.daemonId)) return 'daemonId must be a non-empty string';
  if (!(p.key instanceof Uint8Array) || p.key.length !== 32) return 'key must be 32 bytes';
  return undefined;
}

function inflightProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'not an object';
  const r = value as Partial<Record<keyof InflightRecord, unknown>>;
  for (const field of ['id', 'bootId', 'method'] as const) {
    if (!isId(r[field])) return `${field} must be a non-empty string`;
  }
  // FetchEvent.clientId is '' for some requests (navigations): a string, possibly empty.
  for (const field of ['clientId', 'url'] as const) {
    if (typeof r[field] !== 'string') return `${field} must be a string`;
  }
  if (typeof r.at !== 'number' || !Number.isFinite(r.at)) return 'at must be a finite number';
  return undefined;
}

/** Only the known fields, so nothing a caller attached rides along into storage. */
function copyDevice(d: StoredDevice): StoredDevice {
  const copy: StoredDevice = {
    deviceId: d.deviceId,
    daemonId: d.daemonId,
    relayUrl: d.relayUrl,
    daemonIdentityPublicKey: d.daemonIdentityPublicKey,
    pairedAt: d.pairedAt,
    privateKey: d.privateKey,
    publicKey: d.publicKey,
  };
  if (d.label !== undefined) copy.label = d.label;
  return copy;
}

function copyInflight(r: InflightRecord): InflightRecord {
  return { id: r.id, bootId: r.bootId, clientId: r.clientId, method: r.method, url: r.url, at: r.at };
}

function isId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

function isKey32(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    return fromBase64Url(value).length === 32;
  } catch {
    return false;
  }
}

function isUrl(value: string): boolean {
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}

function checkId(name: string, value: unknown): void {
  if (!isId(value)) throw new TypeError(`${name} must be a non-empty string`);
}

function checkString(name: string, value: unknown): void {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string`);
}

function resolveLimits(overrides: Partial<StoreLimits> = {}): StoreLimits {
  const limits = { ...STORE_LIMITS };
  for (const field of ['maxInflight', 'inflightTtlMs', 'maxPins'] as const) {
    const value = overrides[field] ?? limits[field];
    if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`store limit ${field} must be a positive integer`);
    limits[field] = value;
  }
  return limits;
}

function malformed(what: string, problem: string): StoreError {
  return new StoreError('store_malformed', `stored ${what} is malformed (${problem}); forget() resets the store`);
}

function full(max: number): StoreError {
  return new StoreError('store_full', `cannot pin more than ${max} daemons; remove one first`);
}
