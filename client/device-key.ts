import { ed25519 } from '@noble/curves/ed25519.js';
import { toBase64Url } from '../protocol/bytes.js';
import { randomBytes } from '../protocol/random.js';
import { loadKeyFile, loadOrCreateKeyFile, type Ed25519KeyFileFormat } from '../node/ed25519-key-file.js';

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
 * another key (which the control plane would refuse with `invalid_signature`). Read and written
 * by node/ed25519-key-file.ts.
 */
export const DEVICE_KEY_FILE_VERSION = 1;

const DEVICE_KEY_FILE: Ed25519KeyFileFormat<DeviceKey> = {
  version: DEVICE_KEY_FILE_VERSION,
  label: 'device key file',
  fromSeed: deviceKeyFromSeed,
  publicKeyOf: (key) => key.publicKey,
};

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
  return loadKeyFile(path, DEVICE_KEY_FILE);
}

/**
 * Loads the device key at `path`, creating it on first use. Creation is exclusive: two
 * processes starting at once end up with one key, never two.
 *
 *   const { key } = await loadOrCreateDeviceKey(join(homedir(), '.sideband', 'device-key.json'));
 */
export async function loadOrCreateDeviceKey(path: string): Promise<{ key: DeviceKey; created: boolean }> {
  return loadOrCreateKeyFile(path, DEVICE_KEY_FILE);
}
