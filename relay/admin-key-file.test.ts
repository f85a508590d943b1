import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AdminKeyFileError, loadOrCreateAdminKey } from './admin-key-file.js';
import { startRelayProcess, type RelayProcess } from './testing/relay-process.js';

/** The admin key persisted in the data directory: created once, atomically, reused on restart. */

const dirs: string[] = [];
const tempDir = async (): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'relay-admin-key-'));
  dirs.push(dir);
  return dir;
};
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const posix = process.platform !== 'win32';

describe('loadOrCreateAdminKey', () => {
  it('creates the key once (0600, no temp file left) and reads the same key afterwards', async () => {
    const dir = join(await tempDir(), 'nested', 'data');
    const first = await loadOrCreateAdminKey(dir);
    expect(first).toEqual({ key: expect.stringMatching(/^sba_[A-Za-z0-9_-]{43}$/), path: join(dir, 'admin-key'), created: true });
    expect(await readFile(first.path, 'utf8')).toBe(`${first.key}\n`);
    if (posix) {
      expect((await stat(first.path)).mode & 0o777).toBe(0o600);
      expect((await stat(dir)).mode & 0o777).toBe(0o700);
    }
    expect(await readdir(dir)).toEqual(['admin-key']);
    expect(await loadOrCreateAdminKey(dir)).toEqual({ ...first, created: false });
  });

  it('gives every concurrent starter the same key, and exactly one of them created it', async () => {
    const dir = await tempDir();
    const results = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateAdminKey(dir)));
    expect(new Set(results.map((r) => r.key)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(await readdir(dir)).toEqual(['admin-key']);
  });

  it('uses an operator-written key (trailing newline optional) and tightens a loose mode', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'admin-key'), 'my-own-admin-key-0123456789', { mode: 0o644 });
    if (posix) await chmod(join(dir, 'admin-key'), 0o644);
    expect(await loadOrCreateAdminKey(dir)).toMatchObject({ key: 'my-own-admin-key-0123456789', created: false });
    if (posix) expect((await stat(join(dir, 'admin-key'))).mode & 0o777).toBe(0o600);
  });

  it.each([
    ['empty', ''],
    ['too short', 'short\n'],
    ['two lines', 'aaaaaaaaaaaaaaaaaaaa\nbbbbbbbbbbbbbbbbbbbb\n'],
    ['spaces', 'aaaaaaaa aaaaaaaaaaaa'],
    ['too large', 'a'.repeat(5000)],
  ])('refuses a file that is %s, without echoing it', async (_name, content) => {
    const dir = await tempDir();
    await writeFile(join(dir, 'admin-key'), content, { mode: 0o600 });
    const error = await loadOrCreateAdminKey(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AdminKeyFileError);
    if (content.length > 0) expect((error as Error).message).not.toContain(content.trim().slice(0, 10));
  });

  it.runIf(posix)('refuses a symlink or a directory in place of the file', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'elsewhere'), 'k'.repeat(20));
    await symlink(join(dir, 'elsewhere'), join(dir, 'admin-key'));
    await expect(loadOrCreateAdminKey(dir)).rejects.toBeInstanceOf(AdminKeyFileError);
    const other = await tempDir();
    await mkdir(join(other, 'admin-key'));
    await expect(loadOrCreateAdminKey(other)).rejects.toBeInstanceOf(AdminKeyFileError);
  });
});

describe('relay CLI with --data-dir and no admin key', () => {
  let relay: RelayProcess | undefined;
  afterEach(async () => {
    await relay?.stop();
    relay = undefined;
  });

  it('prints the generated key once, then only where it is; the key works across the restart', { timeout: 60_000 }, async () => {
    const dir = await tempDir();
    relay = await startRelayProcess(['--port', '0', '--data-dir', dir]);
    const first = relay.output();
    const match = /Generated admin key \(shown once, saved to (.+)\): (sba_\S+)/.exec(first.stdout);
    expect(match?.[1]).toBe(join(dir, 'admin-key'));
    const key = match![2]!;
    expect(first.stderr).not.toContain(key);
    expect(first.stderr).not.toContain('changes on every restart');
    await relay.stop();

    relay = await startRelayProcess(['--port', '0', '--data-dir', dir]);
    const second = relay.output();
    expect(second.stdout).toContain(`Admin key: read from ${join(dir, 'admin-key')}`);
    expect(second.stdout + second.stderr).not.toContain(key);
    const res = await fetch(`${relay.url}/v1/admin/signing-keys/rotate`, { method: 'POST', headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
  });

  it('without --data-dir warns that the generated key changes on restart', { timeout: 30_000 }, async () => {
    relay = await startRelayProcess(['--port', '0']);
    expect(relay.output().stdout).toMatch(/Generated admin key \(shown once\): sba_/);
    await relay.stop();
    expect(relay.output().stderr).toContain('changes on every restart');
  });

  it('an explicit admin key wins and no file is written', { timeout: 30_000 }, async () => {
    const dir = await tempDir();
    relay = await startRelayProcess(['--port', '0', '--data-dir', dir], { SIDEBAND_ADMIN_KEY: 'explicit-admin-key-0123456789' });
    expect(relay.output().stdout).not.toContain('admin key');
    expect(relay.output().stdout).not.toContain('Admin key');
    expect(await readdir(dir)).not.toContain('admin-key');
  });
});
