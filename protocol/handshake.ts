import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { concatBytes, utf8, wipe } from './bytes.js';
import { SbrpError } from './errors.js';
import type { HandshakeAcceptPayload } from './frames.js';

/** Key schedule of sbrp.md §2. Pure functions; private keys are injectable for vectors. */

const HANDSHAKE_LABEL = utf8('sbrp-v1-handshake');
const TRANSCRIPT_LABEL = utf8('sbrp-v1-transcript');
const KEYS_INFO = utf8('sbrp-session-keys');

export interface SessionKeys {
  clientToDaemon: Uint8Array;
  daemonToClient: Uint8Array;
}

export interface EphemeralKeyPair {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

export type RandomBytes = (length: number) => Uint8Array;

/** X25519 ephemeral from a raw private key (clamped by X25519 itself, RFC 7748). */
export function ephemeralFromPrivate(privateKey: Uint8Array): EphemeralKeyPair {
  return { privateKey: privateKey.slice(), publicKey: x25519.getPublicKey(privateKey) };
}

export function generateEphemeral(randomBytes: RandomBytes): EphemeralKeyPair {
  return ephemeralFromPrivate(randomBytes(32));
}

/** SHA256("sbrp-v1-handshake" ‖ daemonId ‖ clientEph ‖ daemonEph): the 32 bytes that get signed. */
export function signaturePayload(daemonId: string, clientEph: Uint8Array, daemonEph: Uint8Array): Uint8Array {
  return sha256(concatBytes(HANDSHAKE_LABEL, utf8(daemonId), clientEph, daemonEph));
}

export function transcriptHash(daemonId: string, clientEph: Uint8Array, daemonEph: Uint8Array, signature: Uint8Array): Uint8Array {
  return sha256(concatBytes(TRANSCRIPT_LABEL, utf8(daemonId), clientEph, daemonEph, signature));
}

/** HKDF-SHA256(ikm = shared, salt = transcript, info = "sbrp-session-keys", 64) split in two. */
export function deriveSessionKeys(sharedSecret: Uint8Array, transcript: Uint8Array): SessionKeys {
  const okm = hkdf(sha256, sharedSecret, transcript, KEYS_INFO, 64);
  const keys = { clientToDaemon: okm.slice(0, 32), daemonToClient: okm.slice(32, 64) };
  wipe(okm);
  return keys;
}

/**
 * X25519 that refuses low-order points: an all-zero shared secret means the peer sent a
 * small-order key, which would make the session keys predictable.
 */
export function sharedSecret(myPrivate: Uint8Array, peerPublic: Uint8Array): Uint8Array {
  let secret: Uint8Array;
  try {
    secret = x25519.getSharedSecret(myPrivate, peerPublic);
  } catch (error) {
    throw new SbrpError('handshake_failed', `X25519 rejected the peer key: ${(error as Error).message}`);
  }
  if (secret.every((b) => b === 0)) throw new SbrpError('handshake_failed', 'peer X25519 key has low order');
  return secret;
}

export interface DaemonHandshakeResult {
  accept: HandshakeAcceptPayload;
  keys: SessionKeys;
}

/** Daemon side: answers a client ephemeral with a signed Accept and the session keys. */
export function daemonHandshake(
  daemonId: string,
  identitySeed: Uint8Array,
  clientEph: Uint8Array,
  daemonEphemeral: EphemeralKeyPair,
): DaemonHandshakeResult {
  const identityPublicKey = ed25519.getPublicKey(identitySeed);
  const signature = ed25519.sign(signaturePayload(daemonId, clientEph, daemonEphemeral.publicKey), identitySeed);
  const shared = sharedSecret(daemonEphemeral.privateKey, clientEph);
  const keys = deriveSessionKeys(shared, transcriptHash(daemonId, clientEph, daemonEphemeral.publicKey, signature));
  wipe(shared, daemonEphemeral.privateKey);
  return { accept: { identityPublicKey, daemonEphemeral: daemonEphemeral.publicKey, signature }, keys };
}

/**
 * Client side: verifies the Accept signature with `trustedIdentity` (the pinned key, or the
 * offered key on first contact once the caller decided it may pin it) and derives the keys.
 */
export function clientHandshake(
  daemonId: string,
  clientEphemeral: EphemeralKeyPair,
  accept: HandshakeAcceptPayload,
  trustedIdentity: Uint8Array,
): SessionKeys {
  const digest = signaturePayload(daemonId, clientEphemeral.publicKey, accept.daemonEphemeral);
  let valid = false;
  try {
    valid = ed25519.verify(accept.signature, digest, trustedIdentity);
  } catch {
    valid = false;
  }
  if (!valid) throw new SbrpError('handshake_failed', 'HandshakeAccept signature does not verify with the daemon identity key');
  const shared = sharedSecret(clientEphemeral.privateKey, accept.daemonEphemeral);
  const keys = deriveSessionKeys(shared, transcriptHash(daemonId, clientEphemeral.publicKey, accept.daemonEphemeral, accept.signature));
  wipe(shared, clientEphemeral.privateKey);
  return keys;
}
