import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { TOKEN_AUDIENCE, TOKEN_TYPE, TokenVerifier } from '../token-verifier.js';
import { MemoryControlPlaneStore } from './memory-store.js';
import { SigningKeyRing } from './signing-keys.js';
import { TokenIssuer } from './token-issuer.js';

const ISS = 'https://relay.example';
const NOW_MS = 1_800_000_000_000;

async function setup() {
  const ring = await SigningKeyRing.load(new MemoryControlPlaneStore(), () => NOW_MS);
  return { ring, issuer: new TokenIssuer(ring, ISS, () => NOW_MS) };
}

describe('TokenIssuer', () => {
  it('writes a compact EdDSA JWS that jose verifies against the published JWKS, claim for claim', async () => {
    const { ring, issuer } = await setup();
    const { token, expiresAt } = await issuer.issue({ role: 'client', sub: 'daemon-key:d1', did: 'd1', sid: 'AAALOnPOL_I' }, 60);
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'EdDSA', typ: TOKEN_TYPE, kid: ring.kid });
    const { payload } = await jwtVerify(token, createLocalJWKSet(ring.jwks), {
      algorithms: ['EdDSA'], issuer: ISS, audience: TOKEN_AUDIENCE, typ: TOKEN_TYPE, currentDate: new Date(NOW_MS),
    });
    expect(payload).toEqual({
      role: 'client', did: 'd1', ver: 1, sid: 'AAALOnPOL_I', iss: ISS, aud: [TOKEN_AUDIENCE], sub: 'daemon-key:d1',
      iat: NOW_MS / 1000, exp: NOW_MS / 1000 + 60, jti: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
    });
    expect(expiresAt).toBe(NOW_MS / 1000 + 60);
  });

  it('gives every token its own jti and carries scopes and non-ASCII subjects intact', async () => {
    const { ring, issuer } = await setup();
    const verifier = new TokenVerifier({ issuer: ISS, keys: ring.keyResolver, now: () => NOW_MS });
    const a = await issuer.issue({ role: 'daemon', sub: 'd1', did: 'd1', scp: ['session:resume'] }, 3600);
    const b = await issuer.issue({ role: 'client', sub: 'device:é☃', did: 'd1', sid: 'AAALOnPOL_I' }, 60);
    const daemon = await verifier.verify(a.token);
    const client = await verifier.verify(b.token);
    expect(daemon.scopes.has('session:resume')).toBe(true);
    expect(client.sub).toBe('device:é☃');
    expect(daemon.jti).not.toBe(client.jti);
  });

  it('signs with the new key after a rotation; tokens of the old key stay valid during the overlap', async () => {
    const { ring, issuer } = await setup();
    const verifier = new TokenVerifier({ issuer: ISS, keys: ring.keyResolver, now: () => NOW_MS });
    const before = await issuer.issue({ role: 'daemon', sub: 'd1', did: 'd1' }, 3600);
    const { kid, previousKid } = await ring.rotate();
    const after = await issuer.issue({ role: 'daemon', sub: 'd1', did: 'd1' }, 3600);
    expect(decodeProtectedHeader(before.token).kid).toBe(previousKid);
    expect(decodeProtectedHeader(after.token).kid).toBe(kid);
    await verifier.verify(before.token);
    await verifier.verify(after.token);
  });
});
