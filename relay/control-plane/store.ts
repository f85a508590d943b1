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
}

/**
 * Durable state of the control plane, kept small and async so SQLite and Redis backends can
 * implement it later (design.md: storage). Implementations bound their own size and throw
 * `StoreFullError` rather than grow without limit (style.md 7).
 */
export interface ControlPlaneStore {
  /** Adds a daemon; throws `DuplicateRecordError` when the id exists, `StoreFullError` when full. */
  insertDaemon(record: DaemonRecord): Promise<void>;
  getDaemon(daemonId: string): Promise<DaemonRecord | undefined>;
  /** All signing keys, oldest first. */
  listSigningKeys(): Promise<SigningKeyRecord[]>;
  insertSigningKey(record: SigningKeyRecord): Promise<void>;
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
