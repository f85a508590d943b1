import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import type { HandshakeCrypto, IdentitySigner } from '../protocol/handshake.js';

/**
 * The handshake's curve operations on node:crypto (OpenSSL): X25519 through `diffieHellman`
 * and Ed25519 through `sign`/`verify`, with KeyObjects built from the raw 32-byte keys of the
 * protocol by prefixing the fixed DER headers (RFC 8410). The Node client's and the daemon's
 * fast path; `npm run bench` measures it against noble. Reproduces every known-answer vector
 * (node/handshake-node.test.ts).
 */

// PKCS#8 PrivateKeyInfo headers for a 32-byte key (RFC 8410 §7).
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');

function rawKey(key: Uint8Array, what: string): Buffer {
  if (key.length !== 32) throw new RangeError(`${what} must be 32 bytes, got ${key.length}`);
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength);
}

function privateKeyObject(header: Buffer, key: Uint8Array, what: string): KeyObject {
  const der = Buffer.concat([header, rawKey(key, what)]);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0); // the private key copy; OpenSSL keeps its own
  }
}

/**
 * Public keys travel as JWK (RFC 8037), not DER: OpenSSL 3 decodes a JWK's raw key about ten
 * times faster than an SPKI structure (~0.06 ms against ~0.5 ms per key on a busy machine), and
 * a handshake imports one or two. Private keys stay DER, so no secret becomes a JS string.
 */
function publicKeyObject(crv: 'X25519' | 'Ed25519', key: Uint8Array, what: string): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv, x: rawKey(key, what).toString('base64url') }, format: 'jwk' });
}

/** The raw 32 bytes of a public KeyObject. */
function rawPublic(key: KeyObject): Uint8Array {
  return new Uint8Array(Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url'));
}

export const nodeHandshakeCrypto: HandshakeCrypto = {
  x25519PublicKey(privateKey) {
    return rawPublic(createPublicKey(privateKeyObject(X25519_PKCS8, privateKey, 'X25519 private key')));
  },
  x25519(privateKey, publicKey) {
    const secret = diffieHellman({
      privateKey: privateKeyObject(X25519_PKCS8, privateKey, 'X25519 private key'),
      publicKey: publicKeyObject('X25519', publicKey, 'X25519 public key'),
    });
    return new Uint8Array(secret.buffer, secret.byteOffset, secret.byteLength);
  },
  ed25519Signer(seed): IdentitySigner {
    const key = privateKeyObject(ED25519_PKCS8, seed, 'Ed25519 seed');
    const publicKey = rawPublic(createPublicKey(key));
    return {
      publicKey,
      sign: (message) => new Uint8Array(sign(null, message, key)),
    };
  },
  ed25519Verify(signature, message, publicKey) {
    if (signature.length !== 64 || publicKey.length !== 32) return false;
    try {
      return verify(null, message, publicKeyObject('Ed25519', publicKey, 'Ed25519 public key'), signature);
    } catch {
      return false;
    }
  },
  x25519Generate() {
    // Generated inside OpenSSL and used there: no raw private key to import, copy or wipe.
    const { privateKey, publicKey } = generateKeyPairSync('x25519');
    return {
      privateKey: new Uint8Array(0),
      publicKey: rawPublic(publicKey),
      agree: (peerPublic) => {
        const secret = diffieHellman({ privateKey, publicKey: publicKeyObject('X25519', peerPublic, 'X25519 public key') });
        return new Uint8Array(secret.buffer, secret.byteOffset, secret.byteLength);
      },
    };
  },
};
