import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesEqual, fromBase64Url, toBase64Url } from '../protocol/bytes.js';
import { fingerprint } from '../protocol/fingerprint.js';
import { randomBytes } from '../protocol/random.js';
import { writeFileAtomic } from '../node/atomic-write.js';
import { FileError } from '../node/errors.js';
import { parsePrivateJson, readPrivateFile } from '../node/private-file.js';

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
 * into a different identity.
 */
export const IDENTITY_FILE_VERSION = 1;

export function identityFromSeed(seed: Uint8Array): DaemonIdentity {
  if (seed.length !== 32) throw new RangeError('an Ed25519 seed is 32 bytes');
  const publicKey = ed25519.getPublicKey(seed);
  return { seed: seed.slice(), publicKey, fingerprint: fingerprint(publicKey) };
}

export function generateIdentity(): DaemonIdentity {
  return identityFromSeed(randomBytes(32));
}

export function serializeIdentity(identity: DaemonIdentity): string {
  return `${JSON.stringify({ version: IDENTITY_FILE_VERSION, seed: toBase64Url(identity.seed), publicKey: toBase64Url(identity.publicKey) }, null, 2)}\n`;
}

/** Parses and checks an identity file's text; throws FileError `file_malformed`. */
export function parseIdentity(text: string, path: string): DaemonIdentity {
  const json = parsePrivateJson(text, path) as { version?: unknown; seed?: unknown; publicKey?: unknown } | null;
  const malformed = (why: string): FileError => new FileError('file_malformed', `identity file ${path}: ${why}`, path);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw malformed('not a JSON object');
  if (json.version !== IDENTITY_FILE_VERSION) throw malformed(`unsupported version ${JSON.stringify(json.version)}`);
  const seed = decodeKey(json.seed);
  const publicKey = decodeKey(json.publicKey);
  if (!seed) throw malformed('seed is not 32 bytes of base64url');
  if (!publicKey) throw malformed('publicKey is not 32 bytes of base64url');
  const identity = identityFromSeed(seed);
  seed.fill(0);
  if (!bytesEqual(identity.publicKey, publicKey)) throw malformed('publicKey does not match the seed');
  return identity;
}

/** Loads the identity at `path`, or undefined when the file does not exist. */
export async function loadIdentity(path: string): Promise<DaemonIdentity | undefined> {
  const text = await readPrivateFile(path);
  return text === undefined ? undefined : parseIdentity(text, path);
}

/**
 * Loads the identity at `path`, creating it on first run. Creation is exclusive: two
 * processes starting at once end up with the same identity, never two.
 *
 *   const { identity, created } = await loadOrCreateIdentity('/home/me/.sideband/identity.json');
 *   console.log(identity.fingerprint);
 */
export async function loadOrCreateIdentity(path: string): Promise<{ identity: DaemonIdentity; created: boolean }> {
  const existing = await loadIdentity(path);
  if (existing) return { identity: existing, created: false };
  const identity = generateIdentity();
  try {
    await writeFileAtomic(path, serializeIdentity(identity), { mode: 0o600, exclusive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    identity.seed.fill(0);
    const winner = await loadIdentity(path);
    if (!winner) throw error;
    return { identity: winner, created: false };
  }
  return { identity, created: true };
}

function decodeKey(value: unknown): Uint8Array | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    const bytes = fromBase64Url(value);
    return bytes.length === 32 ? bytes : undefined;
  } catch {
    return undefined;
  }
}
