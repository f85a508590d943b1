import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateSigningKey } from './signing-keys.js';
import { migrate, MIGRATIONS, SchemaVersionError } from './sqlite-migrations.js';
import { DATA_FILE_NAME, SqliteControlPlaneStore } from './sqlite-store.js';

/** What only the SQLite backend promises: file modes, durability across reopen, versioned migrations. */

const daemon = { daemonId: 'd1', identityPublicKey: 'k', label: 'laptop', apiKeyHash: 'a'.repeat(64), createdAt: 1 };

describe('SqliteControlPlaneStore', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sideband-sqlite-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates its data directory 0700 and the database 0600, and tightens a loose existing file', async () => {
    const dataDir = join(dir, 'nested', 'data');
    const store = SqliteControlPlaneStore.inDirectory(dataDir);
    await store.insertDaemon(daemon);
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dataDir, DATA_FILE_NAME))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dataDir, `${DATA_FILE_NAME}-wal`))).mode & 0o077).toBe(0);
    await store.close();

    const loose = join(dir, 'loose.sqlite');
    await writeFile(loose, '', { mode: 0o644 });
    await new SqliteControlPlaneStore(loose).close();
    expect((await stat(loose)).mode & 0o777).toBe(0o600);
  });

  it('runs in WAL mode with synchronous=FULL and foreign keys on', async () => {
    const path = join(dir, 'cp.sqlite');
    const store = new SqliteControlPlaneStore(path);
    await store.close();
    const db = new Database(path);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    // synchronous and foreign_keys are per connection: check them on the store's own.
    const again = new SqliteControlPlaneStore(path);
    const inner = (again as unknown as { db: Database.Database }).db;
    expect(inner.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(inner.pragma('foreign_keys', { simple: true })).toBe(1);
    await again.close();
  });

  it('keeps everything across close and reopen', async () => {
    const path = join(dir, 'cp.sqlite');
    const key = await generateSigningKey(5);
    let store = new SqliteControlPlaneStore(path);
    expect(store.schema).toEqual({ from: 0, to: MIGRATIONS.length });
    await store.insertDaemon(daemon);
    await store.insertSigningKey(key);
    await store.insertDevice({ deviceId: 'v1', daemonId: 'd1', publicKey: 'pk', label: 'phone', createdAt: 2, lastSeenAt: 3 }, 10);
    await store.insertQuickConnect({ codeHash: 'h', daemonId: 'd1', createdAt: 1, expiresAt: 10_000 }, { max: 10, windowMs: 60_000 });
    await store.close();

    store = new SqliteControlPlaneStore(path);
    expect(store.schema).toEqual({ from: MIGRATIONS.length, to: MIGRATIONS.length });
    expect(await store.getDaemon('d1')).toEqual(daemon);
    expect(await store.listSigningKeys()).toEqual([key]);
    expect(await store.getDevice('v1')).toEqual({ deviceId: 'v1', daemonId: 'd1', publicKey: 'pk', label: 'phone', createdAt: 2, lastSeenAt: 3 });
    expect((await store.consumeQuickConnect('h', 2)).outcome).toBe('redeemed');
    await store.close();
  });

  it('refuses a database written by a newer schema', async () => {
    const path = join(dir, 'cp.sqlite');
    const db = new Database(path);
    db.pragma('user_version = 99');
    db.close();
    expect(() => new SqliteControlPlaneStore(path)).toThrow(SchemaVersionError);
  });

  it('migrates step by step, and a failing step leaves the previous version intact', () => {
    const db = new Database(':memory:');
    const steps = [
      { version: 1, up: 'CREATE TABLE a (x INTEGER) STRICT;' },
      { version: 2, up: "CREATE TABLE b (y INTEGER) STRICT; INSERT INTO a VALUES (1); SELECT no_such_function();" },
    ];
    expect(() => migrate(db, steps)).toThrow(/no_such_function/);
    expect(db.pragma('user_version', { simple: true })).toBe(1);
    expect(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'b'").get()).toEqual({ n: 0 });
    expect(db.prepare('SELECT count(*) AS n FROM a').get()).toEqual({ n: 0 });
    expect(migrate(db, steps.slice(0, 1))).toEqual({ from: 1, to: 1 });
    expect(migrate(db, [...steps.slice(0, 1), { version: 2, up: 'CREATE TABLE b (y INTEGER) STRICT;' }])).toEqual({ from: 1, to: 2 });
    expect(() => migrate(db, [{ version: 2, up: '' }])).toThrow(SchemaVersionError); // numbering must be 1, 2, …
    db.close();
  });
});
