import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { toBase64Url } from '../../protocol/bytes.js';

/**
 * Daemon ids and API keys. A key embeds its daemon id so verification is one store lookup by id
 * followed by one constant-time hash comparison; the store only ever sees SHA-256 hashes.
 *
 *   daemonId = "dmn_" + 24 hex (96 random bits)
 *   apiKey   = "sbk_" + daemonId + "_" + base64url(32 random bytes)   (256 bits of secret)
 */
const DAEMON_ID = /^dmn_[0-9a-f]{24}$/;
const API_KEY = /^sbk_(dmn_[0-9a-f]{24})_[A-Za-z0-9_-]{43}$/;

export function newDaemonId(): string {
  return `dmn_${randomBytes(12).toString('hex')}`;
}

export function isDaemonId(text: string): boolean {
  return DAEMON_ID.test(text);
}

export function newApiKey(daemonId: string): string {
  return `sbk_${daemonId}_${toBase64Url(randomBytes(32))}`;
}

/** A random admin key for when the operator gave none (printed once by the CLI). */
export function newAdminKey(): string {
  return `sba_${toBase64Url(randomBytes(32))}`;
}

/** The daemon id an API key claims, or undefined when the key is not shaped like one. */
export function apiKeyDaemonId(apiKey: string): string | undefined {
  return API_KEY.exec(apiKey)?.[1];
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/**
 * Compares a presented secret with a stored SHA-256 hex digest in constant time. Both sides are
 * fixed-length digests, so neither the length nor the content of the secret leaks by timing.
 */
export function secretMatchesHash(secret: string, storedHashHex: string): boolean {
  const presented = createHash('sha256').update(secret, 'utf8').digest();
  const stored = Buffer.from(storedHashHex, 'hex');
  return stored.length === presented.length && timingSafeEqual(presented, stored);
}
