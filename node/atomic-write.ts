import { link, mkdir, open, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

export interface AtomicWriteOptions {
  /** File mode; 0600 by default because every file written this way holds a secret or a pin. */
  mode?: number;
  /** Fail with EEXIST instead of replacing an existing file (first-run identity creation). */
  exclusive?: boolean;
}

/**
 * Writes `data` to `path` so that readers see either the old file or the complete new one,
 * even across a crash: temp file in the same directory, write, fsync, then rename (or link,
 * when `exclusive`), then fsync the directory.
 *
 *   await writeFileAtomic('/home/me/.sideband/pins.json', JSON.stringify(pins));
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  const mode = options.mode ?? 0o600;
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', mode);
  try {
    try {
      await handle.writeFile(data);
      await handle.chmod(mode); // the umask may only narrow `mode`; make it exact
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (options.exclusive) await link(temp, path); // link fails with EEXIST: no silent overwrite
    else await rename(temp, path);
  } finally {
    await rm(temp, { force: true });
  }
  await syncDirectory(dir);
}

/** Makes the rename itself durable. Not every platform can open a directory: best effort. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Windows and some filesystems refuse; the data itself is already synced.
  }
}
