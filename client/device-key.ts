import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesEqual, fromBase64Url, toBase64Url } from '../protocol/bytes.js';
import { randomBytes } from '../protocol/random.js';
import { writeFileAtomic } from '../node/atomic-write.js';
import { FileError } from '../node/errors.js';
import { parsePrivateJson, readPrivateFile } from '../node/private-file.js';

/**
 * The Node client's device key (design.md: pairing): an Ed25519 key created once, whose public
 * half the control plane records at pairing and whose signature over a fresh challenge buys each
 * session token. The seed is held in a closure, never as a property, so logging or serializing
 * a DeviceKey cannot leak it.
 */
export interface DeviceKey {
  readonly publicKey: Uint8Array;
  /** base64url of the 32-byte public key, as the control plane takes it. */
  readonly publicKeyBase64url: string;
  sign(message: Uint8Array): Uint8Array;
}

/**
 * File format, version 1 (mode 0600, written atomically: temp file, fsync, rename):
 *   { "version": 1, "seed": "<base64url 32 B>", "publicKey": "<base64url 32 B>" }
 * The public key is stored so a corrupted seed is caught on load rather than silently becoming
 * another key (which the control plane would refuse with `invalid_signature`).
 */
export const DEVICE_KEY_FILE_VERSION = 1;

export function deviceKeyFromSeed(seed: Uint8Array): DeviceKey {
  if (seed.length !== 32) throw new RangeError('an Ed25519 seed is 32 bytes');
  const secret = seed.slice();
  const publicKey = ed25519.getPublicKey(secret);
  const publicKeyBase64url = toBase64Url(publicKey);
  return Object.freeze({
    get publicKey() {
      return publicKey.slice();
    },
    publicKeyBase64url,
    sign: (message: Uint8Array) => ed25519.sign(message, secret),
  });
}

/** A new key held only in memory (tests, or a caller with its own storage). */
export function generateDeviceKey(): DeviceKey {
  const seed = randomBytes(32);
  const key = deviceKeyFromSeed(seed);
  seed.fill(0);
  return key;
}

/** Loads the device key at `path`; undefined when the file does not exist. Refuses a file others can read. */
export async function loadDeviceKey(path: string): Promise<DeviceKey | undefined> {
  const text = await readPrivateFile(path);
  return text === undefined ? undefined : parseDeviceKey(text, path);
}

/**
 * Loads the device key at `path`, creating it on first use. Creation is exclusive: two
 * processes starting at once end up with one key, never two.
 *
 *   const { key } = await loadOrCreateDeviceKey(join(homedir(), '.sideband', 'device-key.json'));
 */
export async function loadOrCreateDeviceKey(path: string): Promise<{ key: DeviceKey; created: boolean }> {
  const existing = await loadDeviceKey(path);
  if (existing) return { key: existing, created: false };
  const seed = randomBytes(32);
  const key = deviceKeyFromSeed(seed);
  const text = `${JSON.stringify({ version: DEVICE_KEY_FILE_VERSION, seed: toBase64Url(seed), publicKey: key.publicKeyBase64url }, null, 2)}\n`;
  seed.fill(0);
  try {
    await writeFileAtomic(path, text, { mode: 0o600, exclusive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const winner = await loadDeviceKey(path);
    if (!winner) throw error;
    return { key: winner, created: false };
  }
  return { key, created: true };
}

function parseDeviceKey(text: string, path: string): DeviceKey {
  const json = parsePrivateJson(text, path) as { version?: unknown; seed?: unknown; publicKey?: unknown } | null;
  const malformed = (why: string): FileError => new FileError('file_malformed', `device key file ${path}: ${why}`, path);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw malformed('not a JSON object');
  if (json.version !== DEVICE_KEY_FILE_VERSION) throw malformed(`unsupported version ${JSON.stringify(json.version)}`);
  const seed = decode32(json.seed);
  const publicKey = decode32(json.publicKey);
  if (!seed) throw malformed('seed is not 32 bytes of base64url');
  if (!publicKey) throw malformed('publicKey is not 32 bytes of base64url');
  const key = deviceKeyFromSeed(seed);
  seed.fill(0);
  if (!bytesEqual(key.publicKey, publicKey)) throw malformed('publicKey does not match the seed');
  return key;
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
