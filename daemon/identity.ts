import { ed25519 } from '@noble/curves/ed25519.js';
import { fingerprint } from '../protocol/fingerprint.js';
import { randomBytes } from '../protocol/random.js';
import { loadKeyFile, loadOrCreateKeyFile, parseKeyFile, serializeKeyFile, type Ed25519KeyFileFormat } from '../node/ed25519-key-file.js';

/** The daemon's long-term Ed25519 identity (sbrp.md §2): it signs every HandshakeAccept. */
export interface DaemonIdentity {
  /** 32-byte Ed25519 seed: the secret. */
  seed: Uint8Array;
  publicKey: Uint8Array;
  /** `SHA256:AB:CD:…`, what users compare (sbrp.md §2). */
  fingerprint: string;
}

/**
 * File format, version 1 (mode 0600, written atomically):
 *   { "version": 1, "seed": "<base64url 32 B>", "publicKey": "<base64url 32 B>" }
 * The public key is stored so a corrupted seed is caught on load instead of silently turning
 * into a different identity. Read and written by node/ed25519-key-file.ts.
 */
export const IDENTITY_FILE_VERSION = 1;

const IDENTITY_FILE: Ed25519KeyFileFormat<DaemonIdentity> = {
  version: IDENTITY_FILE_VERSION,
  label: 'identity file',
  fromSeed: identityFromSeed,
  publicKeyOf: (identity) => identity.publicKey,
  discard: (identity) => identity.seed.fill(0),
};

export function identityFromSeed(seed: Uint8Array): DaemonIdentity {
  if (seed.length !== 32) throw new RangeError('an Ed25519 seed is 32 bytes');
  const publicKey = ed25519.getPublicKey(seed);
  return { seed: seed.slice(), publicKey, fingerprint: fingerprint(publicKey) };
}

export function generateIdentity(): DaemonIdentity {
  return identityFromSeed(randomBytes(32));
}

export function serializeIdentity(identity: DaemonIdentity): string {
  return serializeKeyFile(IDENTITY_FILE_VERSION, identity.seed, identity.publicKey);
}

/** Parses and checks an identity file's text; throws FileError `file_malformed`. */
export function parseIdentity(text: string, path: string): DaemonIdentity {
  return parseKeyFile(text, path, IDENTITY_FILE);
}

/** Loads the identity at `path`, or undefined when the file does not exist. */
export async function loadIdentity(path: string): Promise<DaemonIdentity | undefined> {
  return loadKeyFile(path, IDENTITY_FILE);
}

/**
 * Loads the identity at `path`, creating it on first run. Creation is exclusive: two
 * processes starting at once end up with the same identity, never two.
 *
 *   const { identity, created } = await loadOrCreateIdentity('/home/me/.sideband/identity.json');
 *   console.log(identity.fingerprint);
 */
export async function loadOrCreateIdentity(path: string): Promise<{ identity: DaemonIdentity; created: boolean }> {
  const { key, created } = await loadOrCreateKeyFile(path, IDENTITY_FILE);
  return { identity: key, created };
}
