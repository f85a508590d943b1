import { createPrivateKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, createLocalJWKSet, exportJWK, generateKeyPair, type CompactVerifyGetKey, type JSONWebKeySet, type JWK } from 'jose';
import { activeSigningKey, type ControlPlaneStore, type SigningKeyRecord } from './store.js';

/** How long a rotated-out key stays in the JWKS: longer than a presence token lives (sbrp.md §5: ~1 h). */
export const DEFAULT_SIGNING_KEY_OVERLAP_MS = 2 * 3600_000;

interface Published {
  jwks: JSONWebKeySet;
  resolver: CompactVerifyGetKey;
  /** Epoch ms at which a published key retires and this set must be rebuilt. */
  validUntil: number;
}

/**
 * The control plane's Ed25519 JWT signing keys (sbrp.md §5: EdDSA, verified by `kid`). The
 * active key (the newest not rotated out) signs; a rotated-out key stays published until its
 * `retiresAt`, so tokens it signed stay verifiable while they can still be presented. At most two
 * keys exist after a rotation (store.rotateSigningKey), so the JWKS never holds more than two.
 */
export class SigningKeyRing {
  /**
   * Stable key resolver for an in-process TokenVerifier: it always consults the current set, so
   * a rotation or a retirement needs no new verifier.
   */
  readonly keyResolver: CompactVerifyGetKey = (header, token) => this.published().resolver(header, token);
  private readonly store: ControlPlaneStore;
  private readonly now: () => number;
  private records: SigningKeyRecord[] = [];
  private activeKid = '';
  private activeKey: KeyObject | undefined;
  private cache: Published | undefined;
  private reloading: Promise<void> = Promise.resolve();

  private constructor(store: ControlPlaneStore, now: () => number) {
    this.store = store;
    this.now = now;
  }

  /** Loads the keys from the store, creating and storing the first one when there is none. */
  static async load(store: ControlPlaneStore, now: () => number = Date.now): Promise<SigningKeyRing> {
    const ring = new SigningKeyRing(store, now);
    if ((await store.listSigningKeys()).length === 0) await store.insertSigningKey(await generateSigningKey(now()));
    await ring.reload();
    return ring;
  }

  get kid(): string {
    return this.activeKid;
  }

  /**
   * The active private key as an OpenSSL KeyObject, imported once per reload: token-issuer.ts
   * signs with node:crypto synchronously (a WebCrypto sign is a thread-pool round trip per
   * token, on every new session's path: issue 9).
   */
  get privateKey(): KeyObject {
    return this.activeKey!;
  }

  /** Public keys still in their validity, for `/.well-known/jwks.json`. */
  get jwks(): JSONWebKeySet {
    return this.published().jwks;
  }

  /** Re-reads the keys (after a rotation here or, through a store event, on another node). Serialized. */
  reload(): Promise<void> {
    // A failed reload must not poison the ones queued after it.
    this.reloading = this.reloading.catch(() => {}).then(async () => {
      const records = await this.store.listSigningKeys();
      const active = activeSigningKey(records);
      if (!active) throw new Error('the store holds no signing key');
      const privateKey = createPrivateKey({ key: { ...active.privateJwk }, format: 'jwk' });
      if (privateKey.asymmetricKeyType !== 'ed25519') throw new TypeError('signing key is not an Ed25519 key');
      this.records = records;
      this.activeKid = active.kid;
      this.activeKey = privateKey;
      this.cache = undefined;
    });
    return this.reloading;
  }

  /**
   * Makes a new key active; the previous one stays published for `overlapMs`. Any older key
   * is dropped at once (two rotations within one overlap retire the oldest key early).
   */
  async rotate(overlapMs: number = DEFAULT_SIGNING_KEY_OVERLAP_MS): Promise<{ kid: string; previousKid: string; previousRetiresAt: number }> {
    const now = this.now();
    const previousKid = this.activeKid;
    const next = await generateSigningKey(now);
    await this.store.rotateSigningKey(next, now + overlapMs);
    await this.reload();
    return { kid: next.kid, previousKid, previousRetiresAt: now + overlapMs };
  }

  private published(): Published {
    const now = this.now();
    if (this.cache && now < this.cache.validUntil) return this.cache;
    const live = this.records.filter((r) => r.kid === this.activeKid || r.retiresAt === undefined || r.retiresAt > now);
    const retirements = live.map((r) => (r.kid === this.activeKid ? Infinity : (r.retiresAt ?? Infinity)));
    const jwks: JSONWebKeySet = { keys: live.map((r) => publicJwk(r)) };
    this.cache = { jwks, resolver: createLocalJWKSet(jwks), validUntil: Math.min(Infinity, ...retirements) };
    return this.cache;
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
