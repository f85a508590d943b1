import { randomBytes, sign } from 'node:crypto';
import { toBase64Url } from '../../protocol/bytes.js';
import { TOKEN_AUDIENCE, TOKEN_TYPE } from '../token-verifier.js';
import type { SigningKeyRing } from './signing-keys.js';

/** The role-specific claims of a relay token (sbrp.md §5 table). */
export interface RelayTokenClaims {
  role: 'daemon' | 'client';
  sub: string;
  did: string;
  /** Clients: base64url of the 8-byte SessionID. */
  sid?: string;
  scp?: string[];
}

export interface IssuedToken {
  token: string;
  /** Epoch seconds. */
  expiresAt: number;
}

/**
 * Signs relay tokens with the newest key of the ring. The one place that writes the header and
 * the registered claims, so every issuing path (HTTP, programmatic, later device challenges)
 * produces the same shape.
 *
 * The compact JWS (RFC 7515 §7.1: base64url header, payload, Ed25519 signature of the two) is
 * put together here and signed with node:crypto, synchronously: jose signs through WebCrypto,
 * whose every call is a round trip to the thread pool, and a token is on every new session's
 * path (issue 9). Any JWS library verifies the result (token-issuer.test.ts checks with jose).
 */
export class TokenIssuer {
  private readonly ring: SigningKeyRing;
  private readonly issuer: string;
  private readonly now: () => number;

  constructor(ring: SigningKeyRing, issuer: string, now: () => number = Date.now) {
    this.ring = ring;
    this.issuer = issuer;
    this.now = now;
  }

  async issue(claims: RelayTokenClaims, lifetimeS: number): Promise<IssuedToken> {
    const iat = Math.floor(this.now() / 1000);
    const expiresAt = iat + lifetimeS;
    const body: Record<string, unknown> = { role: claims.role, did: claims.did, ver: 1 };
    if (claims.sid !== undefined) body.sid = claims.sid;
    if (claims.scp !== undefined) body.scp = claims.scp;
    Object.assign(body, { iss: this.issuer, aud: [TOKEN_AUDIENCE], sub: claims.sub, iat, exp: expiresAt, jti: toBase64Url(randomBytes(16)) });
    const header = { alg: 'EdDSA', typ: TOKEN_TYPE, kid: this.ring.kid };
    const signingInput = `${base64UrlJson(header)}.${base64UrlJson(body)}`;
    const signature = sign(null, Buffer.from(signingInput, 'ascii'), this.ring.privateKey);
    return { token: `${signingInput}.${signature.toString('base64url')}`, expiresAt };
  }
}

function base64UrlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}
