import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { fromBase64Url, toBase64Url, utf8 } from '../../protocol/bytes.js';
import { parseEd25519PublicKey } from './input-checks.js';

/**
 * Device credentials (design.md: pairing). A device proves itself by signing a single-use,
 * server-issued challenge with the Ed25519 key it created at pairing; the control plane only
 * ever holds the public half, so nothing it stores (or a device stores besides its key) works as
 * a bearer secret.
 *
 *   signed message = UTF-8 "sideband-device-token-v1\n" ‖ challenge ‖ "\n" ‖ deviceId
 *
 * The context string keeps the signature from meaning anything in another protocol; the device
 * id binds it to one device even if a challenge were shared.
 */
export const DEVICE_TOKEN_CONTEXT = 'sideband-device-token-v1';

const DEVICE_ID = /^dev_[0-9a-f]{32}$/;
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

/** "dev_" + 32 hex (128 random bits). */
export function newDeviceId(): string {
  return `dev_${randomBytes(16).toString('hex')}`;
}

export function isDeviceId(value: unknown): value is string {
  return typeof value === 'string' && DEVICE_ID.test(value);
}

/** base64url of 32 random bytes. */
export function newChallenge(): string {
  return toBase64Url(randomBytes(32));
}

export function isChallenge(value: unknown): value is string {
  return typeof value === 'string' && CHALLENGE.test(value);
}

export function deviceTokenMessage(challenge: string, deviceId: string): Uint8Array {
  return utf8(`${DEVICE_TOKEN_CONTEXT}\n${challenge}\n${deviceId}`);
}

/**
 * Whether `value` is 32 canonical base64url bytes of an Ed25519 public key that is not of small
 * order (a small-order key would let one signature verify for many messages).
 */
export function isDevicePublicKey(value: unknown): value is string {
  return parseEd25519PublicKey(value) !== undefined;
}

/** Strict RFC 8032 verification (no ZIP-215 leniency); false for any malformed input. */
export function verifyDeviceSignature(publicKey: string, message: Uint8Array, signature: unknown): boolean {
  const key = decode(publicKey, 32);
  const sig = decode(signature, 64);
  if (!key || !sig) return false;
  try {
    return ed25519.verify(sig, message, key, { zip215: false });
  } catch {
    return false;
  }
}

/** Decodes canonical base64url of exactly `length` bytes (re-encoding must give the input back). */
function decode(value: unknown, length: number): Uint8Array | undefined {
  if (typeof value !== 'string' || value.length !== Math.ceil((length * 4) / 3)) return undefined;
  try {
    const bytes = fromBase64Url(value);
    return bytes.length === length && toBase64Url(bytes) === value ? bytes : undefined;
  } catch {
    return undefined;
  }
}
