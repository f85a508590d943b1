import { bytesEqual, fromBase64Url, toBase64Url } from '../protocol/bytes.js';
import { randomBytes } from '../protocol/random.js';
import { writeFileAtomic } from './atomic-write.js';
import { FileError } from './errors.js';
import { parsePrivateJson, readPrivateFile } from './private-file.js';

/**
 * How one kind of Ed25519 key file maps to the caller's key type (the daemon identity, the
 * client device key). File format (mode 0600, written atomically: temp file, fsync, rename):
 *   { "version": <version>, "seed": "<base64url 32 B>", "publicKey": "<base64url 32 B>" }
 * The public key is stored so a corrupted seed is caught on load rather than silently becoming
 * another key.
 */
export interface Ed25519KeyFileFormat<K> {
  /** The `version` the file must carry. */
  readonly version: number;
  /** Names the file in `file_malformed` messages, e.g. `identity file`. */
  readonly label: string;
  /** Builds a key from a 32-byte seed. Must keep its own copy: the caller zeroes `seed` after. */
  fromSeed(seed: Uint8Array): K;
  /** The key's 32-byte public key, checked against the stored one. */
  publicKeyOf(key: K): Uint8Array;
  /** Wipes the secret of a key that is dropped (lost a creation race); nothing by default. */
  discard?(key: K): void;
}

/** The file text for `seed` and its `publicKey`. */
export function serializeKeyFile(version: number, seed: Uint8Array, publicKey: Uint8Array): string {
  return `${JSON.stringify({ version, seed: toBase64Url(seed), publicKey: toBase64Url(publicKey) }, null, 2)}\n`;
}

/** Parses and checks a key file's text; throws FileError `file_malformed`. */
export function parseKeyFile<K>(text: string, path: string, format: Ed25519KeyFileFormat<K>): K {
  const json = parsePrivateJson(text, path) as { version?: unknown; seed?: unknown; publicKey?: unknown } | null;
  const malformed = (why: string): FileError => new FileError('file_malformed', `${format.label} ${path}: ${why}`, path);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw malformed('not a JSON object');
  if (json.version !== format.version) throw malformed(`unsupported version ${JSON.stringify(json.version)}`);
  const seed = decode32(json.seed);
  const publicKey = decode32(json.publicKey);
  if (!seed) throw malformed('seed is not 32 bytes of base64url');
  if (!publicKey) throw malformed('publicKey is not 32 bytes of base64url');
  const key = format.fromSeed(seed);
  seed.fill(0);
  if (!bytesEqual(format.publicKeyOf(key), publicKey)) {
    format.discard?.(key);
    throw malformed('publicKey does not match the seed');
  }
  return key;
}

/** Loads the key file at `path`; undefined when it does not exist. Refuses a file others can read (`file_insecure`). */
export async function loadKeyFile<K>(path: string, format: Ed25519KeyFileFormat<K>): Promise<K | undefined> {
  const text = await readPrivateFile(path);
  return text === undefined ? undefined : parseKeyFile(text, path, format);
}

/**
 * Loads the key file at `path`, creating it with a fresh seed on first use. Creation is
 * exclusive: two processes starting at once end up with one key, never two; the loser loads
 * the winner's file.
 *
 *   const { key, created } = await loadOrCreateKeyFile(path, format);
 */
export async function loadOrCreateKeyFile<K>(path: string, format: Ed25519KeyFileFormat<K>): Promise<{ key: K; created: boolean }> {
  const existing = await loadKeyFile(path, format);
  if (existing !== undefined) return { key: existing, created: false };
  const seed = randomBytes(32);
  const key = format.fromSeed(seed);
  const text = serializeKeyFile(format.version, seed, format.publicKeyOf(key));
  seed.fill(0);
  try {
    await writeFileAtomic(path, text, { mode: 0o600, exclusive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    format.discard?.(key);
    const winner = await loadKeyFile(path, format);
    if (winner === undefined) throw error;
    return { key: winner, created: false };
  }
  return { key, created: true };
}

function decode32(value: unknown): Uint8Array | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    const bytes = fromBase64Url(value);
    return bytes.length === 32 ? bytes : undefined;
  } catch {
    return undefined;
  }
}
