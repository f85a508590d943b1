import type { JWK } from 'jose';

/** A registered daemon. The API key is kept only as its SHA-256 hash (hex). */
export interface DaemonRecord {
  daemonId: string;
  /** base64url (no padding) of the 32-byte Ed25519 identity public key. */
  identityPublicKey: string;
  label: string;
  apiKeyHash: string;
  /** Epoch milliseconds. */
  createdAt: number;
}

/** A control-plane JWT signing key. The private half never leaves the control plane. */
export interface SigningKeyRecord {
  kid: string;
  privateJwk: JWK;
  publicJwk: JWK;
  /** Epoch milliseconds; the newest key signs. */
  createdAt: number;
  /** Epoch ms at which a rotated-out key leaves the JWKS; absent for the active key. */
  retiresAt?: number;
}

/** A browser or Node client paired with one daemon through Quick Connect. */
export interface DeviceRecord {
  deviceId: string;
  /** The daemon it was paired with: the only `did` its session tokens ever name. */
  daemonId: string;
  /** base64url of the 32-byte Ed25519 device public key; the private half never leaves the device. */
  publicKey: string;
  label: string;
  /** Epoch milliseconds. */
  createdAt: number;
  /** Last session token issued to it; absent until the first one. */
  lastSeenAt?: number;
  /** Set once by the owner; a revoked device gets no token again. */
  revokedAt?: number;
}

/** A Quick Connect code, stored only as the SHA-256 (hex) of its normalized text. */
export interface QuickConnectRecord {
  codeHash: string;
  daemonId: string;
  /** Epoch milliseconds. */
  createdAt: number;
  expiresAt: number;
}

/**
 * What consuming a code found. The consumption itself is atomic and happens first
 * (sbrp.md §5): whatever the answer, no second redeem of the same code can be `redeemed`.
 *
 * - `redeemed`: the code was live; it is now used.
 * - `expired`: past its expiry (it stays expired until purged).
 * - `daemon_offline`: burned earlier while its daemon was offline (see `markQuickConnectOffline`).
 * - `not_found`: unknown, already used, or purged.
 */
export type QuickConnectOutcome =
  | { outcome: 'redeemed'; record: QuickConnectRecord }
  | { outcome: 'expired' }
  | { outcome: 'daemon_offline' }
  | { outcome: 'not_found' };

/** A single-use challenge a device signs to get a session token. */
export interface ChallengeRecord {
  /** base64url of 32 random bytes. */
  challenge: string;
  deviceId: string;
  /** Epoch milliseconds. */
  createdAt: number;
  expiresAt: number;
}

/**
 * Changes other parts of the relay must hear about. In process they are delivered synchronously
 * after the write commits; a shared backend (Redis) carries them to every relay node.
 */
export type ControlPlaneEvent =
  | { type: 'device_revoked'; deviceId: string; daemonId: string }
  | { type: 'signing_keys_changed' };

/**
 * How long consumed and expired Quick Connect codes are kept (as tombstones, so a second redeem
 * still answers 410/409 rather than 404). Must exceed the creation rate window: the rate limit
 * counts the rows of the last window.
 */
export const QUICK_CONNECT_RETENTION_MS = 15 * 60_000;
/** Revoked devices are forgotten this long after revocation (then they get 404, not 403). */
export const REVOKED_DEVICE_RETENTION_MS = 30 * 24 * 3600_000;

/**
 * Durable state of the control plane, small and async so SQLite (default), memory (tests and
 * `dataDir`-less runs) and a later Redis backend implement the same contract
 * (store-contract.test.ts runs it against each). Every multi-record change is one atomic
 * operation here, never a sequence of calls from the control plane. Implementations bound
 * their own size and throw `StoreFullError` rather than grow without limit (style.md 7).
 */
export interface ControlPlaneStore {
  /** Adds a daemon; throws `DuplicateRecordError` when the id exists, `StoreFullError` when full. */
  insertDaemon(record: DaemonRecord): Promise<void>;
  getDaemon(daemonId: string): Promise<DaemonRecord | undefined>;
  /** Compare-and-set of the API key hash: true when `expectedHash` was current and is now replaced. */
  replaceApiKeyHash(daemonId: string, expectedHash: string, newHash: string): Promise<boolean>;

  /** All signing keys not yet purged, oldest first. */
  listSigningKeys(): Promise<SigningKeyRecord[]>;
  insertSigningKey(record: SigningKeyRecord): Promise<void>;
  /**
   * Atomically: the newest key gets `retiresAt = previousRetiresAt`, every older key is deleted,
   * `next` is inserted (so at most two keys exist afterwards). Emits `signing_keys_changed`.
   */
  rotateSigningKey(next: SigningKeyRecord, previousRetiresAt: number): Promise<void>;

  /**
   * Adds a code unless its daemon already created `limit.max` codes in the last
   * `limit.windowMs` (then throws `RateLimitedError`); the check and the insert are atomic.
   */
  insertQuickConnect(record: QuickConnectRecord, limit: { max: number; windowMs: number }): Promise<void>;
  /** Consumes a code atomically, before anything else about it is checked (sbrp.md §5). */
  consumeQuickConnect(codeHash: string, now: number): Promise<QuickConnectOutcome>;
  /** A code just redeemed found its daemon offline: later redeems answer `daemon_offline`. */
  markQuickConnectOffline(codeHash: string): Promise<void>;

  /** Adds a device; throws `LimitReachedError` when its daemon has `maxActivePerDaemon` unrevoked devices. */
  insertDevice(record: DeviceRecord, maxActivePerDaemon: number): Promise<void>;
  getDevice(deviceId: string): Promise<DeviceRecord | undefined>;
  /** The devices of one daemon, oldest first. */
  listDevices(daemonId: string): Promise<DeviceRecord[]>;
  touchDevice(deviceId: string, now: number): Promise<void>;
  /**
   * Revokes a device of `daemonId` (idempotent) and emits `device_revoked`; false when the
   * device does not exist or belongs to another daemon.
   */
  revokeDevice(deviceId: string, daemonId: string, now: number): Promise<boolean>;

  /** Adds a challenge; past `maxPerDevice` outstanding ones the oldest of that device is dropped. */
  insertChallenge(record: ChallengeRecord, maxPerDevice: number): Promise<void>;
  /** Deletes and returns a challenge (expired or not: the caller checks); undefined when unknown. */
  consumeChallenge(challenge: string): Promise<ChallengeRecord | undefined>;

  /** Deletes expired challenges, old codes, retired signing keys and long-revoked devices. */
  purgeExpired(now: number): Promise<void>;
  /** Registers a listener for events of this store; returns its remover. */
  subscribe(listener: (event: ControlPlaneEvent) => void): () => void;
  /** Releases resources; idempotent. */
  close(): Promise<void>;
}

export class StoreFullError extends Error {
  override readonly name: string = 'StoreFullError';
  readonly code = 'store_full';
}

export class DuplicateRecordError extends Error {
  override readonly name: string = 'DuplicateRecordError';
  readonly code = 'duplicate_record';
}

/** A per-owner limit (devices per daemon) was reached. */
export class LimitReachedError extends Error {
  override readonly name: string = 'LimitReachedError';
  readonly code = 'limit_reached';
}

/** A creation rate limit was hit; `retryAfterMs` says when the oldest counted creation ages out. */
export class RateLimitedError extends Error {
  override readonly name: string = 'RateLimitedError';
  readonly code = 'rate_limited';
  readonly retryAfterMs: number;

  constructor(message: string, retryAfterMs: number) {
    super(message);
    this.retryAfterMs = retryAfterMs;
  }
}

/** The key that signs: the newest one not rotated out (a rotated-out key has `retiresAt`). */
export function activeSigningKey<T extends SigningKeyRecord>(keys: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const key of keys) {
    const better = best === undefined || (best.retiresAt !== undefined && key.retiresAt === undefined) ||
      ((best.retiresAt === undefined) === (key.retiresAt === undefined) && key.createdAt > best.createdAt);
    if (better) best = key;
  }
  return best;
}

/** Delivers store events to listeners; a throwing listener cannot stop the others or the write. */
export class StoreEvents {
  private readonly listeners = new Set<(event: ControlPlaneEvent) => void>();

  subscribe(listener: (event: ControlPlaneEvent) => void): () => void {
    const entry = (event: ControlPlaneEvent): void => listener(event);
    this.listeners.add(entry);
    return () => void this.listeners.delete(entry);
  }

  emit(event: ControlPlaneEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch {
        // A listener's failure is its own; the change is committed either way.
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}
