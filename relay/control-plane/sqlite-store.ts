import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type BetterSqlite3 from 'better-sqlite3';
import { migrate, MIGRATIONS, type Migration } from './sqlite-migrations.js';
import {
  activeSigningKey, DuplicateRecordError, LimitReachedError, QUICK_CONNECT_RETENTION_MS, RateLimitedError, REVOKED_DEVICE_RETENTION_MS,
  StoreEvents, StoreFullError, type ChallengeRecord, type ControlPlaneEvent, type ControlPlaneStore, type DaemonRecord,
  type DeviceRecord, type QuickConnectOutcome, type QuickConnectRecord, type SigningKeyRecord,
} from './store.js';

export interface SqliteStoreOptions {
  /** Default 1 000 000 daemons. */
  maxDaemons?: number;
  /** Schema steps; the real list by default (tests pass others to exercise the migrator). */
  migrations?: readonly Migration[];
}

/** The database file inside a relay's data directory. */
export const DATA_FILE_NAME = 'control-plane.sqlite';

interface DaemonRow { daemon_id: string; identity_public_key: string; label: string; api_key_hash: string; created_at: number }
interface KeyRow { kid: string; private_jwk: string; public_jwk: string; created_at: number; retires_at: number | null }
interface DeviceRow {
  device_id: string; daemon_id: string; public_key: string; label: string; created_at: number; last_seen_at: number | null; revoked_at: number | null;
}
interface CodeRow { daemon_id: string; created_at: number; expires_at: number; state: 'live' | 'used' | 'expired' | 'offline' }

/**
 * The control plane's durable store (design.md: SQLite by default). One file, WAL journal with
 * `synchronous=FULL` (a committed change survives a power cut), every multi-row change in one
 * transaction (a crash leaves no partial record), versioned migrations at open
 * (sqlite-migrations.ts). The file holds the signing keys' private halves, so it is created
 * with mode 0600 (SQLite gives its -wal and -shm files the same mode).
 *
 * better-sqlite3 is synchronous: each method runs to completion before another can start, and
 * transactions are `BEGIN IMMEDIATE`, so another process on the same file cannot interleave.
 *
 * @example
 * const store = new SqliteControlPlaneStore('/var/lib/sideband/control-plane.sqlite');
 * const relay = await startRelay({ store });
 */
export class SqliteControlPlaneStore implements ControlPlaneStore {
  readonly path: string;
  /** Schema version before and after the migrations run at open. */
  readonly schema: { from: number; to: number };
  private readonly db: BetterSqlite3.Database;
  private readonly events = new StoreEvents();
  private readonly maxDaemons: number;
  private readonly sql: ReturnType<typeof prepare>;
  private closed = false;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.path = path;
    this.maxDaemons = options.maxDaemons ?? 1_000_000;
    if (path !== ':memory:') createPrivateFile(path);
    this.db = new Database(path);
    try {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.pragma('foreign_keys = ON');
      this.db.pragma('busy_timeout = 5000');
      this.schema = migrate(this.db, options.migrations ?? MIGRATIONS);
      this.sql = prepare(this.db);
    } catch (error) {
      this.db.close();
      throw error;
    }
  }

  /** The store of a relay data directory: `<dir>/control-plane.sqlite`, the directory created 0700 if absent. */
  static inDirectory(dir: string, options: SqliteStoreOptions = {}): SqliteControlPlaneStore {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return new SqliteControlPlaneStore(join(dir, DATA_FILE_NAME), options);
  }

  async insertDaemon(record: DaemonRecord): Promise<void> {
    this.tx(() => {
      if ((this.sql.countDaemons.get() as { n: number }).n >= this.maxDaemons) throw new StoreFullError(`store holds ${this.maxDaemons} daemons`);
      insertOnce(() => this.sql.insertDaemon.run(record.daemonId, record.identityPublicKey, record.label, record.apiKeyHash, record.createdAt), `daemon ${record.daemonId} exists`);
    });
  }

  async getDaemon(daemonId: string): Promise<DaemonRecord | undefined> {
    const row = this.sql.getDaemon.get(daemonId) as DaemonRow | undefined;
    return row && { daemonId: row.daemon_id, identityPublicKey: row.identity_public_key, label: row.label, apiKeyHash: row.api_key_hash, createdAt: row.created_at };
  }

  async replaceApiKeyHash(daemonId: string, expectedHash: string, newHash: string): Promise<boolean> {
    return this.sql.replaceApiKeyHash.run(newHash, daemonId, expectedHash).changes === 1;
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    return (this.sql.listKeys.all() as KeyRow[]).map(keyFromRow);
  }

  async insertSigningKey(record: SigningKeyRecord): Promise<void> {
    insertOnce(
      () => this.sql.insertKey.run(record.kid, JSON.stringify(record.privateJwk), JSON.stringify(record.publicJwk), record.createdAt, record.retiresAt ?? null),
      `signing key ${record.kid} exists`,
    );
  }

  async rotateSigningKey(next: SigningKeyRecord, previousRetiresAt: number): Promise<void> {
    this.tx(() => {
      const current = activeSigningKey((this.sql.listKeys.all() as KeyRow[]).map(keyFromRow));
      if (current) {
        this.sql.deleteKeysExcept.run(current.kid);
        this.sql.retireKey.run(previousRetiresAt, current.kid);
      }
      insertOnce(
        () => this.sql.insertKey.run(next.kid, JSON.stringify(next.privateJwk), JSON.stringify(next.publicJwk), next.createdAt, null),
        `signing key ${next.kid} exists`,
      );
    });
    this.events.emit({ type: 'signing_keys_changed' });
  }

  async insertQuickConnect(record: QuickConnectRecord, limit: { max: number; windowMs: number }): Promise<void> {
    this.tx(() => {
      const recent = this.sql.recentCodes.get(record.daemonId, record.createdAt - limit.windowMs) as { n: number; oldest: number | null };
      if (recent.n >= limit.max) {
        throw new RateLimitedError(`at most ${limit.max} codes per ${limit.windowMs / 1000} s`, (recent.oldest ?? record.createdAt) + limit.windowMs - record.createdAt);
      }
      insertOnce(() => this.sql.insertCode.run(record.codeHash, record.daemonId, record.createdAt, record.expiresAt), 'code exists');
    });
  }

  async consumeQuickConnect(codeHash: string, now: number): Promise<QuickConnectOutcome> {
    return this.tx((): QuickConnectOutcome => {
      const row = this.sql.getCode.get(codeHash) as CodeRow | undefined;
      if (!row || row.state === 'used') return { outcome: 'not_found' };
      if (row.state === 'offline') return { outcome: 'daemon_offline' };
      if (row.state === 'expired' || row.expires_at <= now) {
        this.sql.setCodeState.run('expired', codeHash);
        return { outcome: 'expired' };
      }
      this.sql.setCodeState.run('used', codeHash);
      return { outcome: 'redeemed', record: { codeHash, daemonId: row.daemon_id, createdAt: row.created_at, expiresAt: row.expires_at } };
    });
  }

  async markQuickConnectOffline(codeHash: string): Promise<void> {
    this.sql.setCodeState.run('offline', codeHash);
  }

  async insertDevice(record: DeviceRecord, maxActivePerDaemon: number): Promise<void> {
    this.tx(() => {
      if ((this.sql.countActiveDevices.get(record.daemonId) as { n: number }).n >= maxActivePerDaemon) {
        throw new LimitReachedError(`daemon has ${maxActivePerDaemon} devices`);
      }
      insertOnce(
        () => this.sql.insertDevice.run(record.deviceId, record.daemonId, record.publicKey, record.label, record.createdAt, record.lastSeenAt ?? null, record.revokedAt ?? null),
        `device ${record.deviceId} exists`,
      );
    });
  }

  async getDevice(deviceId: string): Promise<DeviceRecord | undefined> {
    const row = this.sql.getDevice.get(deviceId) as DeviceRow | undefined;
    return row && deviceFromRow(row);
  }

  async listDevices(daemonId: string): Promise<DeviceRecord[]> {
    return (this.sql.listDevices.all(daemonId) as DeviceRow[]).map(deviceFromRow);
  }

  async touchDevice(deviceId: string, now: number): Promise<void> {
    this.sql.touchDevice.run(now, deviceId);
  }

  async revokeDevice(deviceId: string, daemonId: string, now: number): Promise<boolean> {
    const changed = this.sql.revokeDevice.run(now, deviceId, daemonId).changes === 1;
    if (changed) this.events.emit({ type: 'device_revoked', deviceId, daemonId });
    return changed;
  }

  async insertChallenge(record: ChallengeRecord, maxPerDevice: number): Promise<void> {
    this.tx(() => {
      this.sql.trimChallenges.run(record.deviceId, record.deviceId, Math.max(0, maxPerDevice - 1));
      insertOnce(() => this.sql.insertChallenge.run(record.challenge, record.deviceId, record.createdAt, record.expiresAt), 'challenge exists');
    });
  }

  async consumeChallenge(challenge: string): Promise<ChallengeRecord | undefined> {
    const row = this.sql.consumeChallenge.get(challenge) as { device_id: string; created_at: number; expires_at: number } | undefined;
    return row && { challenge, deviceId: row.device_id, createdAt: row.created_at, expiresAt: row.expires_at };
  }

  async purgeExpired(now: number): Promise<void> {
    this.tx(() => {
      this.sql.purgeChallenges.run(now);
      this.sql.purgeCodes.run(now - QUICK_CONNECT_RETENTION_MS);
      this.sql.purgeDevices.run(now - REVOKED_DEVICE_RETENTION_MS);
      this.sql.purgeKeys.run(now);
    });
  }

  subscribe(listener: (event: ControlPlaneEvent) => void): () => void {
    return this.events.subscribe(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.events.clear();
    this.db.close();
  }

  private tx<T>(body: () => T): T {
    return this.db.transaction(body).immediate();
  }
}

function prepare(db: BetterSqlite3.Database) {
  return {
    countDaemons: db.prepare('SELECT count(*) AS n FROM daemons'),
    insertDaemon: db.prepare('INSERT INTO daemons (daemon_id, identity_public_key, label, api_key_hash, created_at) VALUES (?, ?, ?, ?, ?)'),
    getDaemon: db.prepare('SELECT * FROM daemons WHERE daemon_id = ?'),
    replaceApiKeyHash: db.prepare('UPDATE daemons SET api_key_hash = ? WHERE daemon_id = ? AND api_key_hash = ?'),
    listKeys: db.prepare('SELECT * FROM signing_keys ORDER BY created_at, rowid'),
    insertKey: db.prepare('INSERT INTO signing_keys (kid, private_jwk, public_jwk, created_at, retires_at) VALUES (?, ?, ?, ?, ?)'),
    deleteKeysExcept: db.prepare('DELETE FROM signing_keys WHERE kid <> ?'),
    retireKey: db.prepare('UPDATE signing_keys SET retires_at = ? WHERE kid = ?'),
    recentCodes: db.prepare('SELECT count(*) AS n, min(created_at) AS oldest FROM quick_connects WHERE daemon_id = ? AND created_at > ?'),
    insertCode: db.prepare("INSERT INTO quick_connects (code_hash, daemon_id, created_at, expires_at, state) VALUES (?, ?, ?, ?, 'live')"),
    getCode: db.prepare('SELECT daemon_id, created_at, expires_at, state FROM quick_connects WHERE code_hash = ?'),
    setCodeState: db.prepare('UPDATE quick_connects SET state = ? WHERE code_hash = ?'),
    countActiveDevices: db.prepare('SELECT count(*) AS n FROM devices WHERE daemon_id = ? AND revoked_at IS NULL'),
    insertDevice: db.prepare('INSERT INTO devices (device_id, daemon_id, public_key, label, created_at, last_seen_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    getDevice: db.prepare('SELECT * FROM devices WHERE device_id = ?'),
    listDevices: db.prepare('SELECT * FROM devices WHERE daemon_id = ? ORDER BY created_at, rowid'),
    touchDevice: db.prepare('UPDATE devices SET last_seen_at = ? WHERE device_id = ?'),
    revokeDevice: db.prepare('UPDATE devices SET revoked_at = coalesce(revoked_at, ?) WHERE device_id = ? AND daemon_id = ?'),
    // Keeps the newest `?3` challenges of the device, so one insert brings it to at most the limit.
    trimChallenges: db.prepare(
      'DELETE FROM challenges WHERE device_id = ? AND rowid NOT IN (SELECT rowid FROM challenges WHERE device_id = ? ORDER BY rowid DESC LIMIT ?)',
    ),
    insertChallenge: db.prepare('INSERT INTO challenges (challenge, device_id, created_at, expires_at) VALUES (?, ?, ?, ?)'),
    consumeChallenge: db.prepare('DELETE FROM challenges WHERE challenge = ? RETURNING device_id, created_at, expires_at'),
    purgeChallenges: db.prepare('DELETE FROM challenges WHERE expires_at <= ?'),
    purgeCodes: db.prepare('DELETE FROM quick_connects WHERE expires_at <= ?'),
    purgeDevices: db.prepare('DELETE FROM devices WHERE revoked_at IS NOT NULL AND revoked_at <= ?'),
    purgeKeys: db.prepare('DELETE FROM signing_keys WHERE retires_at IS NOT NULL AND retires_at <= ?'),
  };
}

/** Creates the database file with mode 0600 before SQLite opens it, and tightens an existing one. */
function createPrivateFile(path: string): void {
  closeSync(openSync(path, 'a', 0o600));
  if (process.platform !== 'win32') chmodSync(path, 0o600);
}

function insertOnce(run: () => unknown, message: string): void {
  try {
    run();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') throw new DuplicateRecordError(message);
    throw error;
  }
}

function keyFromRow(row: KeyRow): SigningKeyRecord {
  const record: SigningKeyRecord = { kid: row.kid, privateJwk: JSON.parse(row.private_jwk), publicJwk: JSON.parse(row.public_jwk), createdAt: row.created_at };
  if (row.retires_at !== null) record.retiresAt = row.retires_at;
  return record;
}

function deviceFromRow(row: DeviceRow): DeviceRecord {
  const record: DeviceRecord = { deviceId: row.device_id, daemonId: row.daemon_id, publicKey: row.public_key, label: row.label, createdAt: row.created_at };
  if (row.last_seen_at !== null) record.lastSeenAt = row.last_seen_at;
  if (row.revoked_at !== null) record.revokedAt = row.revoked_at;
  return record;
}
