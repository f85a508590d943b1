import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
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
    const token = await new SignJWT(body)
      .setProtectedHeader({ alg: 'EdDSA', typ: TOKEN_TYPE, kid: this.ring.kid })
      .setIssuer(this.issuer)
      .setAudience([TOKEN_AUDIENCE])
      .setSubject(claims.sub)
      .setIssuedAt(iat)
      .setExpirationTime(expiresAt)
      .setJti(toBase64Url(randomBytes(16)))
      .sign(this.ring.privateKey);
    return { token, expiresAt };
  }
}
