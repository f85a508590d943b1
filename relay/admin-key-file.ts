import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, link, lstat, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { newAdminKey } from './control-plane/api-keys.js';

/** File name of the persisted admin key inside the data directory. */
export const ADMIN_KEY_FILE = 'admin-key';
/** Longer than any key the relay generates or accepts through the CLI; a bigger file is not ours. */
const MAX_FILE_BYTES = 4096;

export interface AdminKeyFile {
  key: string;
  path: string;
  /** True when this call generated the key (the CLI prints it once, then never again). */
  created: boolean;
}

/** The admin-key file exists but cannot be used; the relay refuses to start rather than guess. */
export class AdminKeyFileError extends Error {
  override readonly name: string = 'AdminKeyFileError';
  readonly code = 'admin_key_file';
}

/**
 * Reads `<dataDir>/admin-key`, or generates a key and stores it there, so a relay with a data
 * directory keeps its admin key across restarts (hardening issue: "the admin key changes on
 * every restart unless set").
 *
 * Creation is atomic and exclusive: the key is written and fsynced to a fresh temporary file
 * (`O_EXCL`, mode 0600), then hard-linked to the final name, which fails if that name exists. So
 * a crash never leaves a half-written key, and of two relays starting on one directory both end
 * up with the same key. An existing file must be a regular file (not a symlink) holding one key
 * of 16..4096 characters without whitespace; a group/other-readable one is tightened to 0600.
 *
 * @example const { key, created, path } = await loadOrCreateAdminKey('./data');
 */
export async function loadOrCreateAdminKey(dataDir: string): Promise<AdminKeyFile> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, ADMIN_KEY_FILE);
  const existing = await readKey(path);
  if (existing !== undefined) return { key: existing, path, created: false };

  const key = newAdminKey();
  const temp = join(dataDir, `.${ADMIN_KEY_FILE}.${randomBytes(8).toString('hex')}.tmp`);
  const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0), 0o600);
  try {
    await handle.writeFile(`${key}\n`, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    // Another relay won the race: use its key.
    const winner = await readKey(path);
    if (winner === undefined) throw new AdminKeyFileError(`${path} vanished while starting`);
    return { key: winner, path, created: false };
  } finally {
    await unlink(temp).catch(() => {});
  }
  await syncDirectory(dataDir);
  return { key, path, created: true };
}

async function readKey(path: string): Promise<string | undefined> {
  let stat;
  try {
    stat = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if (!stat.isFile()) throw new AdminKeyFileError(`${path} is not a regular file; remove it or set SIDEBAND_ADMIN_KEY`);
  if (stat.size > MAX_FILE_BYTES) throw new AdminKeyFileError(`${path} is larger than ${MAX_FILE_BYTES} bytes; it does not hold an admin key`);
  if ((stat.mode & 0o077) !== 0) await chmod(path, 0o600);
  const key = (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
  // Never echo the content: it may be a key with one typo, or a secret put there by mistake.
  if (key.length < 16 || /\s/.test(key)) {
    throw new AdminKeyFileError(`${path} must hold one admin key of at least 16 characters without spaces; fix or remove it`);
  }
  return key;
}

/** fsync the directory so the new name survives a power cut (not supported on every platform). */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, constants.O_RDONLY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Windows cannot open a directory; the file itself is already synced.
  }
}
