import type BetterSqlite3 from 'better-sqlite3';

/** One schema step. `version` is what `PRAGMA user_version` holds once `up` has run. */
export interface Migration {
  version: number;
  up: string;
}

/**
 * The control-plane schema, oldest first. Append only: a released step is never edited, a change
 * is a new step. Tables are STRICT so a wrong type is an error, not a silent coercion.
 */
export const MIGRATIONS: readonly Migration[] = Object.freeze([
  {
    version: 1,
    up: `
      CREATE TABLE daemons (
        daemon_id TEXT PRIMARY KEY,
        identity_public_key TEXT NOT NULL,
        label TEXT NOT NULL,
        api_key_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL
      ) STRICT;
      CREATE TABLE signing_keys (
        kid TEXT PRIMARY KEY,
        private_jwk TEXT NOT NULL,
        public_jwk TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        retires_at INTEGER
      ) STRICT;
      CREATE TABLE devices (
        device_id TEXT PRIMARY KEY,
        daemon_id TEXT NOT NULL REFERENCES daemons(daemon_id),
        public_key TEXT NOT NULL,
        label TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_seen_at INTEGER,
        revoked_at INTEGER
      ) STRICT;
      CREATE INDEX devices_by_daemon ON devices(daemon_id, created_at);
      CREATE TABLE quick_connects (
        code_hash TEXT PRIMARY KEY,
        daemon_id TEXT NOT NULL REFERENCES daemons(daemon_id),
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('live', 'used', 'expired', 'offline'))
      ) STRICT;
      CREATE INDEX quick_connects_by_daemon ON quick_connects(daemon_id, created_at);
      CREATE INDEX quick_connects_by_expiry ON quick_connects(expires_at);
      CREATE TABLE challenges (
        challenge TEXT PRIMARY KEY,
        device_id TEXT NOT NULL REFERENCES devices(device_id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX challenges_by_device ON challenges(device_id, created_at);
      CREATE INDEX challenges_by_expiry ON challenges(expires_at);
    `,
  },
]);

/** The database was written by a newer relay, or a migration list is broken. */
export class SchemaVersionError extends Error {
  override readonly name: string = 'SchemaVersionError';
  readonly code = 'schema_version';
}

/**
 * Brings the schema to the last version of `migrations`. Each step runs in its own transaction
 * together with its `user_version` bump, so a crash or a failing step leaves the database at the
 * previous version, never half-migrated. Returns the version before and after.
 */
export function migrate(db: BetterSqlite3.Database, migrations: readonly Migration[] = MIGRATIONS): { from: number; to: number } {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new SchemaVersionError(`migration ${i} has version ${m.version}, expected ${i + 1}`);
  });
  const from = db.pragma('user_version', { simple: true }) as number;
  const latest = migrations.length;
  if (from > latest) {
    throw new SchemaVersionError(`database schema version ${from} is newer than this relay supports (${latest}); upgrade the relay`);
  }
  for (const step of migrations.slice(from)) {
    db.transaction(() => {
      db.exec(step.up);
      // PRAGMA cannot take a bound parameter; the value is an integer from this module.
      db.pragma(`user_version = ${step.version}`);
    }).immediate();
  }
  return { from, to: latest };
}
