import { calculateJwkThumbprint, createLocalJWKSet, exportJWK, generateKeyPair, importJWK, type CompactVerifyGetKey, type CryptoKey, type JSONWebKeySet, type JWK } from 'jose';
import type { ControlPlaneStore, SigningKeyRecord } from './store.js';

/**
 * The control plane's Ed25519 JWT signing keys (sbrp.md §5: EdDSA, verified by `kid`). The
 * newest key signs; every stored key is published in the JWKS so tokens signed before a
 * rotation stay verifiable until they expire.
 */
export class SigningKeyRing {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly jwks: JSONWebKeySet;
  /** Local key resolver for the in-process relay (no HTTP round trip). */
  readonly keyResolver: CompactVerifyGetKey;

  private constructor(kid: string, privateKey: CryptoKey, jwks: JSONWebKeySet) {
    this.kid = kid;
    this.privateKey = privateKey;
    this.jwks = jwks;
    this.keyResolver = createLocalJWKSet(jwks);
  }

  /** Loads the keys from the store, creating and storing the first one when there is none. */
  static async load(store: ControlPlaneStore, now: () => number = Date.now): Promise<SigningKeyRing> {
    let records = await store.listSigningKeys();
    if (records.length === 0) {
      await store.insertSigningKey(await generateSigningKey(now()));
      records = await store.listSigningKeys();
    }
    const newest = records.reduce((a, b) => (b.createdAt > a.createdAt ? b : a));
    const privateKey = await importJWK({ ...newest.privateJwk, alg: 'EdDSA' }, 'EdDSA');
    if (privateKey instanceof Uint8Array) throw new TypeError('signing key is not an asymmetric key');
    const jwks: JSONWebKeySet = { keys: records.map((r) => publicJwk(r)) };
    return new SigningKeyRing(newest.kid, privateKey, jwks);
  }
}

/** A fresh Ed25519 key; `kid` is its RFC 7638 thumbprint. */
export async function generateSigningKey(createdAt: number): Promise<SigningKeyRecord> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const publicJwkValue = await exportJWK(publicKey);
  const privateJwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(publicJwkValue);
  return { kid, publicJwk: publicJwkValue, privateJwk, createdAt };
}

function publicJwk(record: SigningKeyRecord): JWK {
  const { kty, crv, x } = record.publicJwk;
  return { kty, crv, x, kid: record.kid, alg: 'EdDSA', use: 'sig' };
}
