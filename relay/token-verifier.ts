import { createPublicKey, KeyObject, verify } from 'node:crypto';
import { createRemoteJWKSet, type CompactJWSHeaderParameters, type CompactVerifyGetKey, type JWK } from 'jose';
import { decodeSid } from '../protocol/session-id.js';
import type { HttpErrorCode } from './http-error.js';

/** Header `typ` and `aud` fixed by sbrp.md §5. */
export const TOKEN_TYPE = 'sbrp-relay+jwt';
export const TOKEN_AUDIENCE = 'sideband-relay';
export const RESUME_SCOPE = 'session:resume';

/** Stable reasons, used as the `reason` label of `tokens_rejected_total`. */
export const TOKEN_REJECT_REASONS = [
  'missing', 'too_long', 'malformed', 'bad_alg', 'bad_typ', 'unknown_kid', 'bad_signature', 'jwks_unavailable',
  'bad_iss', 'bad_aud', 'bad_iat', 'bad_exp', 'expired', 'not_yet_valid', 'missing_jti', 'bad_role', 'bad_sub',
  'bad_did', 'bad_sid', 'bad_scp', 'bad_ver', 'lifetime_too_long',
] as const;
export type TokenRejectReason = (typeof TOKEN_REJECT_REASONS)[number];

/** A token the relay will not accept. `status` is 401, or 503 when the JWKS could not be fetched. */
export class TokenRejectedError extends Error {
  override readonly name: string = 'TokenRejectedError';
  readonly reason: TokenRejectReason;
  readonly code: HttpErrorCode;
  readonly status: number;

  constructor(reason: TokenRejectReason, message: string = reason) {
    super(message);
    this.reason = reason;
    this.code = reason === 'jwks_unavailable' ? 'jwks_unavailable' : 'unauthorized';
    this.status = reason === 'jwks_unavailable' ? 503 : 401;
  }
}

export interface VerifiedToken {
  role: 'daemon' | 'client';
  sub: string;
  did: string;
  /** Clients only: the SessionID of the one session this connection may carry. */
  sid?: bigint;
  scopes: ReadonlySet<string>;
  iat: number;
  exp: number;
  jti: string;
}

export interface TokenVerifierOptions {
  /** Required `iss`. */
  issuer: string;
  /** Key lookup by `kid`: a local JWKS (`createLocalJWKSet`) or any jose key resolver. */
  keys?: CompactVerifyGetKey;
  /** Remote JWKS URL, used when `keys` is absent. */
  jwksUrl?: string;
  /** Default 4096 characters. */
  maxTokenLength?: number;
  /** Allowed clock skew in seconds. Default 30 (sbrp.md §5). */
  clockSkewS?: number;
  /** Longest client token lifetime (exp − iat) in seconds. Default 300 (sbrp.md §5). */
  maxClientLifetimeS?: number;
  /** Epoch milliseconds. */
  now?: () => number;
}

const JOSE_REASONS: Readonly<Record<string, TokenRejectReason>> = {
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'bad_signature',
  ERR_JWKS_NO_MATCHING_KEY: 'unknown_kid',
  ERR_JWKS_MULTIPLE_MATCHING_KEYS: 'unknown_kid',
  ERR_JOSE_ALG_NOT_ALLOWED: 'bad_alg',
  ERR_JWKS_TIMEOUT: 'jwks_unavailable',
  ERR_JWKS_INVALID: 'jwks_unavailable',
};

/**
 * Verifies relay tokens exactly as sbrp.md §5 says. Order: size and header checks that need no
 * key, then the signature (by `kid`), and only then the claims, so nothing unauthenticated is
 * acted on (style.md 9). The first failing check names the reason.
 *
 * jose finds the key (local or remote JWKS, by `kid`); the Ed25519 signature over the compact
 * JWS is checked with node:crypto, synchronously, on a KeyObject made once per key. jose's own
 * compactVerify goes through WebCrypto, a thread-pool round trip on every upgrade (issue 9).
 * The JWS rules it enforced are enforced here: three unpadded base64url segments, JSON objects
 * in the first two, `alg` EdDSA (checked with the header), no `crit` (no extension is
 * understood, RFC 7515 §4.1.11), an Ed25519 public key.
 *
 * @example
 * const verifier = new TokenVerifier({ issuer, keys: createLocalJWKSet(jwks) });
 * const { role, did, sid } = await verifier.verify(token);
 */
export class TokenVerifier {
  private readonly issuer: string;
  private readonly keys: CompactVerifyGetKey;
  private readonly remote: boolean;
  private readonly maxTokenLength: number;
  private readonly clockSkewS: number;
  private readonly maxClientLifetimeS: number;
  private readonly now: () => number;

  constructor(options: TokenVerifierOptions) {
    this.issuer = options.issuer;
    if (options.keys) {
      this.keys = options.keys;
      this.remote = false;
    } else if (options.jwksUrl) {
      this.keys = createRemoteJWKSet(new URL(options.jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30_000 });
      this.remote = true;
    } else {
      throw new TypeError('TokenVerifier needs keys or jwksUrl');
    }
    this.maxTokenLength = options.maxTokenLength ?? 4096;
    this.clockSkewS = options.clockSkewS ?? 30;
    this.maxClientLifetimeS = options.maxClientLifetimeS ?? 300;
    this.now = options.now ?? Date.now;
  }

  async verify(token: unknown): Promise<VerifiedToken> {
    if (typeof token !== 'string' || token.length === 0) throw new TokenRejectedError('missing');
    if (token.length > this.maxTokenLength) throw new TokenRejectedError('too_long');
    const parts = token.split('.');
    if (parts.length !== 3 || !parts.every(isBase64UrlSegment)) throw new TokenRejectedError('malformed');
    const segments = parts as [string, string, string];
    const header = this.checkHeader(segments[0]);
    const payload = await this.checkSignature(segments, header);
    return this.checkClaims(payload);
  }

  private checkHeader(encoded: string): CompactJWSHeaderParameters {
    const header = decodeJsonSegment(encoded);
    // Checked before any key lookup: `none`, HS256 with the public key as secret, etc. (sbrp.md §5).
    if (header.alg !== 'EdDSA') throw new TokenRejectedError('bad_alg');
    if (header.typ !== TOKEN_TYPE) throw new TokenRejectedError('bad_typ');
    if (typeof header.kid !== 'string' || header.kid.length === 0) throw new TokenRejectedError('unknown_kid');
    // An extension this verifier does not implement (b64: false, …) must fail the token.
    if (header.crit !== undefined) throw new TokenRejectedError('malformed');
    return header as CompactJWSHeaderParameters;
  }

  private async checkSignature([encodedHeader, encodedPayload, encodedSignature]: [string, string, string], header: CompactJWSHeaderParameters): Promise<Record<string, unknown>> {
    let key: KeyObject;
    try {
      key = publicKeyObject(await this.keys(header, { payload: encodedPayload, signature: encodedSignature }));
    } catch (error) {
      if (error instanceof TokenRejectedError) throw error;
      const code = (error as { code?: unknown }).code;
      const reason = typeof code === 'string' ? JOSE_REASONS[code] : undefined;
      // A fetch failure of a remote JWKS surfaces as a plain error without a jose code.
      throw new TokenRejectedError(reason ?? (this.remote && typeof code !== 'string' ? 'jwks_unavailable' : 'malformed'));
    }
    const signature = Buffer.from(encodedSignature, 'base64url');
    if (!verify(null, Buffer.from(`${encodedHeader}.${encodedPayload}`, 'ascii'), key, signature)) throw new TokenRejectedError('bad_signature');
    return decodeJsonSegment(encodedPayload);
  }

  private checkClaims(claims: Record<string, unknown>): VerifiedToken {
    if (claims.iss !== this.issuer) throw new TokenRejectedError('bad_iss');
    const aud = typeof claims.aud === 'string' ? [claims.aud] : claims.aud;
    if (!Array.isArray(aud) || !aud.includes(TOKEN_AUDIENCE)) throw new TokenRejectedError('bad_aud');
    const { iat, exp } = claims;
    if (!isTime(iat)) throw new TokenRejectedError('bad_iat');
    if (!isTime(exp) || exp < iat) throw new TokenRejectedError('bad_exp');
    const nowS = this.now() / 1000;
    if (exp + this.clockSkewS <= nowS) throw new TokenRejectedError('expired');
    if (iat - this.clockSkewS > nowS) throw new TokenRejectedError('not_yet_valid');
    if (claims.nbf !== undefined && (!isTime(claims.nbf) || claims.nbf - this.clockSkewS > nowS)) {
      throw new TokenRejectedError('not_yet_valid');
    }
    if (!isNonEmptyString(claims.jti)) throw new TokenRejectedError('missing_jti');
    const role = claims.role;
    if (role !== 'daemon' && role !== 'client') throw new TokenRejectedError('bad_role');
    if (!isNonEmptyString(claims.sub)) throw new TokenRejectedError('bad_sub');
    if (!isNonEmptyString(claims.did)) throw new TokenRejectedError('bad_did');
    let sid: bigint | undefined;
    if (role === 'client') {
      sid = decodeSid(claims.sid);
      if (sid === undefined) throw new TokenRejectedError('bad_sid');
    }
    // Absent means no scopes; present must be a string array (null is not absence: sbrp.md §5).
    const scp = claims.scp === undefined ? [] : claims.scp;
    if (!Array.isArray(scp) || !scp.every((s) => typeof s === 'string')) throw new TokenRejectedError('bad_scp');
    if (claims.ver !== undefined && claims.ver !== 1) throw new TokenRejectedError('bad_ver');
    if (role === 'client' && exp - iat > this.maxClientLifetimeS) throw new TokenRejectedError('lifetime_too_long');
    const verified: VerifiedToken = { role, sub: claims.sub, did: claims.did, scopes: new Set(scp as string[]), iat, exp, jti: claims.jti };
    if (sid !== undefined) verified.sid = sid;
    return verified;
  }
}

/** Unpadded base64url (RFC 7515 §2) of a whole number of bytes: a length of 4n + 1 encodes none. */
function isBase64UrlSegment(part: string): boolean {
  return BASE64URL.test(part) && part.length % 4 !== 1;
}

/** A JSON object in a segment that passed isBase64UrlSegment, or `malformed`. */
function decodeJsonSegment(encoded: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(encoded, 'base64url')));
  } catch {
    throw new TokenRejectedError('malformed');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TokenRejectedError('malformed');
  return value as Record<string, unknown>;
}

/** The base64url alphabet, no padding. */
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** KeyObjects of the keys jose resolved, made once per key (a JWKS resolver returns the same CryptoKey each time). */
const keyObjects = new WeakMap<object, KeyObject>();

/** The Ed25519 public key a resolver returned, as a KeyObject; anything else is `bad_alg`. */
function publicKeyObject(resolved: unknown): KeyObject {
  if (resolved instanceof KeyObject) return checkedKey(resolved);
  if (typeof resolved !== 'object' || resolved === null || resolved instanceof Uint8Array) throw new TokenRejectedError('bad_alg');
  let key = keyObjects.get(resolved);
  if (!key) {
    try {
      // A JWK is a plain object with `kty`; anything else must be a CryptoKey (KeyObject.from checks).
      key = 'kty' in resolved ? createPublicKey({ key: { ...(resolved as JWK) }, format: 'jwk' }) : KeyObject.from(resolved as Parameters<typeof KeyObject.from>[0]);
    } catch {
      throw new TokenRejectedError('bad_alg');
    }
    keyObjects.set(resolved, key);
  }
  return checkedKey(key);
}

function checkedKey(key: KeyObject): KeyObject {
  if (key.type !== 'public' || key.asymmetricKeyType !== 'ed25519') throw new TokenRejectedError('bad_alg');
  return key;
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}
