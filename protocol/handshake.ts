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
  /** Raw private key; empty when the backend keeps it inside (`agree`). Wiped after use. */
  privateKey: Uint8Array;
  publicKey: Uint8Array;
  /** X25519 with a private key the backend holds (node:crypto: an OpenSSL key never copied out). */
  agree?: (peerPublic: Uint8Array) => Uint8Array;
}

export type RandomBytes = (length: number) => Uint8Array;

/** An Ed25519 identity ready to sign: the public key derived once, not per handshake. */
export interface IdentitySigner {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

/**
 * The curve operations of the handshake, injectable so Node endpoints can use node:crypto
 * (OpenSSL) while browsers keep noble. Every implementation must reproduce every known-answer
 * vector (protocol/vectors.test.ts for noble, node/handshake-node.test.ts for node:crypto).
 */
export interface HandshakeCrypto {
  /** X25519 public key of a raw 32-byte private key (RFC 7748 clamping). */
  x25519PublicKey(privateKey: Uint8Array): Uint8Array;
  /** Raw X25519; may throw on a key it refuses. The all-zero check is done by `sharedSecret`. */
  x25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array;
  /** An Ed25519 signer for a 32-byte seed (RFC 8032). */
  ed25519Signer(seed: Uint8Array): IdentitySigner;
  /** Ed25519 verification; false (never a throw) for a malformed key or signature. */
  ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  /**
   * A fresh X25519 key pair generated inside the backend, used once through `agree`
   * (optional; without it `generateEphemeral` draws 32 random bytes). node:crypto imports a
   * raw private key slowly (a PKCS#8 parse, ~0.5 ms), so its fast path never has one.
   */
  x25519Generate?(): EphemeralKeyPair;
}

/** The default backend: noble, pure JavaScript (browsers, service worker). */
export const nobleHandshakeCrypto: HandshakeCrypto = {
  x25519PublicKey: (privateKey) => x25519.getPublicKey(privateKey),
  x25519: (privateKey, publicKey) => x25519.getSharedSecret(privateKey, publicKey),
  ed25519Signer(seed) {
    // The caller's seed, not a copy: wiping it is the caller's business, as before.
    return { publicKey: ed25519.getPublicKey(seed), sign: (message) => ed25519.sign(message, seed) };
  },
  ed25519Verify(signature, message, publicKey) {
    try {
      return ed25519.verify(signature, message, publicKey);
    } catch {
      return false;
    }
  },
};

/** X25519 ephemeral from a raw private key (clamped by X25519 itself, RFC 7748). */
export function ephemeralFromPrivate(privateKey: Uint8Array, crypto: HandshakeCrypto = nobleHandshakeCrypto): EphemeralKeyPair {
  return { privateKey: privateKey.slice(), publicKey: crypto.x25519PublicKey(privateKey) };
}

export function generateEphemeral(randomBytes: RandomBytes, crypto: HandshakeCrypto = nobleHandshakeCrypto): EphemeralKeyPair {
  return crypto.x25519Generate?.() ?? ephemeralFromPrivate(randomBytes(32), crypto);
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
export function sharedSecret(myPrivate: Uint8Array, peerPublic: Uint8Array, crypto: HandshakeCrypto = nobleHandshakeCrypto): Uint8Array {
  return checkedSecret(() => crypto.x25519(myPrivate, peerPublic));
}

/** `sharedSecret` with an ephemeral that may keep its private key inside the backend. */
function ephemeralSecret(ephemeral: EphemeralKeyPair, peerPublic: Uint8Array, crypto: HandshakeCrypto): Uint8Array {
  return ephemeral.agree ? checkedSecret(() => ephemeral.agree!(peerPublic)) : sharedSecret(ephemeral.privateKey, peerPublic, crypto);
}

function checkedSecret(agree: () => Uint8Array): Uint8Array {
  let secret: Uint8Array;
  try {
    secret = agree();
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

/**
 * Daemon side: answers a client ephemeral with a signed Accept and the session keys. Pass an
 * {@link IdentitySigner} (made once per identity with `crypto.ed25519Signer`) rather than the
 * seed to skip deriving the public key on every handshake.
 */
export function daemonHandshake(
  daemonId: string,
  identity: Uint8Array | IdentitySigner,
  clientEph: Uint8Array,
  daemonEphemeral: EphemeralKeyPair,
  crypto: HandshakeCrypto = nobleHandshakeCrypto,
): DaemonHandshakeResult {
  const signer = identity instanceof Uint8Array ? crypto.ed25519Signer(identity) : identity;
  const identityPublicKey = signer.publicKey.slice();
  const signature = signer.sign(signaturePayload(daemonId, clientEph, daemonEphemeral.publicKey));
  const shared = ephemeralSecret(daemonEphemeral, clientEph, crypto);
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
  crypto: HandshakeCrypto = nobleHandshakeCrypto,
): SessionKeys {
  const digest = signaturePayload(daemonId, clientEphemeral.publicKey, accept.daemonEphemeral);
  const valid = crypto.ed25519Verify(accept.signature, digest, trustedIdentity);
  if (!valid) throw new SbrpError('handshake_failed', 'HandshakeAccept signature does not verify with the daemon identity key');
  const shared = ephemeralSecret(clientEphemeral, accept.daemonEphemeral, crypto);
  const keys = deriveSessionKeys(shared, transcriptHash(daemonId, clientEphemeral.publicKey, accept.daemonEphemeral, accept.signature));
  wipe(shared, clientEphemeral.privateKey);
  return keys;
}
