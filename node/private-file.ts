import { open } from 'node:fs/promises';
import { FileError } from './errors.js';

/** Upper bound on a private file: identity, config and pin files are a few KiB at most. */
export const MAX_PRIVATE_FILE_BYTES = 1024 * 1024;

/**
 * Reads a file that holds a secret, or undefined when it does not exist. Refuses a file that
 * is not a regular file or that its group or others can read or write (the check runs on the
 * open descriptor, so the file cannot be swapped between check and read).
 */
export async function readPrivateFile(path: string): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new FileError('file_insecure', `${path} is not a regular file`, path);
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
      throw new FileError('file_insecure', `${path} has mode ${mode}; it must not be accessible to group or others (chmod 600)`, path);
    }
    if (stat.size > MAX_PRIVATE_FILE_BYTES) throw new FileError('file_malformed', `${path} is larger than ${MAX_PRIVATE_FILE_BYTES} bytes`, path);
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/** Parses JSON from a private file, turning a syntax error into `file_malformed`. */
export function parsePrivateJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new FileError('file_malformed', `${path} is not valid JSON`, path);
  }
}
