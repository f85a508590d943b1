/**
 * The relay's token verifier (relay/token-verifier.ts, sbrp.md §5) on arbitrary input: random
 * strings, JWT-shaped strings with arbitrary headers and claims, and properly signed tokens with
 * arbitrary claims. Every rejection is a TokenRejectedError with a documented reason and status
 * 401 (local keys: never jwks_unavailable); nothing else is ever thrown; and every token it
 * accepts satisfies each claim rule of §5 (checked here independently). Fixed seed in `npm test`;
 * SIDEBAND_FUZZ_RUNS=N for a long run.
 */
import fc from 'fast-check';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeSid } from '../protocol/session-id.js';
import { TOKEN_REJECT_REASONS, TokenRejectedError, TokenVerifier, type VerifiedToken } from '../relay/token-verifier.js';
import { FUZZ_TIMEOUT_MS, fuzzParams } from './helpers/fault-fuzz-config.js';

const ISS = 'https://relay.example';
const NOW_S = 1_800_000_000;
const REASONS = new Set<string>(TOKEN_REJECT_REASONS);
let key: CryptoKey;
let otherKey: CryptoKey;
let verifier: TokenVerifier;

const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value) ?? 'null').toString('base64url');

/** Verifies; returns the token or the rejection reason, failing on anything but TokenRejectedError. */
async function outcome(token: unknown): Promise<VerifiedToken | string> {
  try {
    return await verifier.verify(token);
  } catch (error) {
    if (!(error instanceof TokenRejectedError)) throw new Error(`threw a non-TokenRejectedError: ${String(error)}`);
    expect(REASONS.has(error.reason), error.reason).toBe(true);
    expect(error.status).toBe(401);
    expect(error.code).toBe('unauthorized');
    return error.reason;
  }
}

/** Independent restatement of sbrp.md §5 for an accepted token's claims. */
function expectSpecCompliant(claims: Record<string, unknown>, verified: VerifiedToken): void {
  expect(claims.iss).toBe(ISS);
  const aud = typeof claims.aud === 'string' ? [claims.aud] : claims.aud;
  expect(Array.isArray(aud) && aud.includes('sideband-relay')).toBe(true);
  expect(typeof claims.iat === 'number' && Number.isFinite(claims.iat)).toBe(true);
  expect(typeof claims.exp === 'number' && claims.exp + 30 > NOW_S).toBe(true);
  expect(typeof claims.jti === 'string' && claims.jti.length > 0).toBe(true);
  expect(['daemon', 'client']).toContain(claims.role);
  expect(typeof claims.sub === 'string' && claims.sub.length > 0).toBe(true);
  expect(typeof claims.did === 'string' && claims.did.length > 0).toBe(true);
  if (claims.ver !== undefined) expect(claims.ver).toBe(1);
  if (claims.scp !== undefined) expect(Array.isArray(claims.scp) && claims.scp.every((s) => typeof s === 'string')).toBe(true);
  if (claims.role === 'client') {
    const sid = decodeSid(claims.sid);
    expect(sid !== undefined && sid !== 0n).toBe(true);
    expect(verified.sid).toBe(sid);
    expect((claims.exp as number) - (claims.iat as number)).toBeLessThanOrEqual(300);
  } else {
    expect(verified.sid).toBeUndefined();
  }
  expect(verified).toMatchObject({ role: claims.role, sub: claims.sub, did: claims.did, jti: claims.jti });
}

const anyValue = fc.anything({ maxDepth: 2, withBigInt: false });
/** Each claim: mostly plausible values, sometimes valid, sometimes anything. */
const claims = fc.record(
  {
    iss: fc.oneof(fc.constant(ISS), fc.constant(`${ISS}/`), anyValue),
    aud: fc.oneof(fc.constant('sideband-relay'), fc.constant(['x', 'sideband-relay']), fc.constant(['x']), anyValue),
    iat: fc.oneof(fc.integer({ min: NOW_S - 400, max: NOW_S + 60 }), fc.constantFrom(Number.MAX_SAFE_INTEGER, -1, 1e308), anyValue),
    exp: fc.oneof(fc.integer({ min: NOW_S - 60, max: NOW_S + 4000 }), fc.constantFrom(Number.MAX_SAFE_INTEGER, 0), anyValue),
    nbf: fc.oneof(fc.integer({ min: NOW_S - 60, max: NOW_S + 60 }), anyValue),
    jti: fc.oneof(fc.constantFrom('j1', ''), anyValue),
    role: fc.oneof(fc.constantFrom('daemon', 'client', 'admin', ''), anyValue),
    sub: fc.oneof(fc.constantFrom('d1', 'user', ''), anyValue),
    did: fc.oneof(fc.constantFrom('d1', ''), anyValue),
    sid: fc.oneof(fc.constantFrom('AAALOnPOL_I', 'AAAAAAAAAAA', 'AAALOnPOL_I=', 'AAALOnPOL_', '__________8', '///////////'), fc.string({ maxLength: 14 }), anyValue),
    scp: fc.oneof(fc.constant(['session:resume']), fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }), anyValue),
    ver: fc.oneof(fc.constant(1), fc.constant(2), anyValue),
  },
  { requiredKeys: [] },
);
/** A valid claim set for either role with up to three claims replaced or deleted: near the boundary of acceptance. */
const nearValidClaims = fc
  .tuple(fc.constantFrom('daemon', 'client'), claims, fc.subarray(['iss', 'aud', 'iat', 'exp', 'nbf', 'jti', 'role', 'sub', 'did', 'sid', 'scp', 'ver'], { maxLength: 3 }), fc.boolean())
  .map(([role, random, keys, drop]) => {
    const base: Record<string, unknown> = {
      iss: ISS, aud: ['sideband-relay'], iat: NOW_S - 10, exp: NOW_S + 50, jti: 'j1', role, sub: role === 'daemon' ? 'd1' : 'user', did: 'd1',
      ...(role === 'client' ? { sid: 'AAALOnPOL_I' } : { scp: ['session:resume'] }),
    };
    const source = random as Record<string, unknown>;
    for (const k of keys) {
      if (drop) delete base[k];
      else if (k in source) base[k] = source[k];
    }
    return base;
  });
const header = fc.record(
  {
    alg: fc.oneof(fc.constantFrom('EdDSA', 'none', 'HS256', 'ES256', 'eddsa'), anyValue),
    typ: fc.oneof(fc.constantFrom('sbrp-relay+jwt', 'JWT'), anyValue),
    kid: fc.oneof(fc.constantFrom('k1', 'k2', ''), anyValue),
    crit: fc.oneof(fc.constant(['exp']), anyValue),
    b64: fc.boolean(),
  },
  { requiredKeys: [] },
);

describe('fuzz: relay token verifier', () => {
  beforeAll(async () => {
    const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    key = pair.privateKey;
    ({ privateKey: otherKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' }));
    const jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'EdDSA', use: 'sig' }] };
    verifier = new TokenVerifier({ issuer: ISS, keys: createLocalJWKSet(jwks), now: () => NOW_S * 1000 });
  });

  it('arbitrary strings and non-strings: rejected with a documented reason, never anything else', async () => {
    const input = fc.oneof(
      fc.string({ maxLength: 120 }),
      fc.string({ unit: 'binary', maxLength: 60 }),
      fc.array(fc.stringMatching(/^[A-Za-z0-9_-]{0,40}$/), { minLength: 1, maxLength: 6 }).map((parts) => parts.join('.')),
      fc.constant('x'.repeat(5000)),
      anyValue,
    );
    await fc.assert(
      fc.asyncProperty(input, async (token) => {
        expect(typeof (await outcome(token))).toBe('string');
      }),
      fuzzParams(2000),
    );
  }, FUZZ_TIMEOUT_MS);

  it('JWT-shaped tokens with arbitrary headers, claims and signatures (unsigned): only documented rejections', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(header, anyValue), fc.oneof(claims, anyValue), fc.stringMatching(/^[A-Za-z0-9_-]{0,90}$/), async (h, c, sig) => {
        expect(typeof (await outcome(`${b64(h)}.${b64(c)}.${sig}`))).toBe('string');
      }),
      fuzzParams(2000),
    );
  }, FUZZ_TIMEOUT_MS);

  it('signed tokens with arbitrary claims: accepted only when every §5 rule holds, else a documented reason', async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(
        // Includes `"scp": null`, which the verifier once read as absent (now `bad_scp`).
        fc.oneof(nearValidClaims, claims),
        fc.constantFrom('right', 'right', 'right', 'other'),
        async (c, which) => {
        let token: string;
        try {
          token = await new SignJWT(c as Record<string, unknown>).setProtectedHeader({ alg: 'EdDSA', typ: 'sbrp-relay+jwt', kid: 'k1' }).sign(which === 'right' ? key : otherKey);
        } catch {
          return; // jose refuses to sign some claim sets (e.g. a non-numeric exp): nothing to verify
        }
        const result = await outcome(token);
        if (which === 'other') expect(result).toBe('bad_signature');
        if (typeof result !== 'string') {
          accepted++;
          expectSpecCompliant(c as Record<string, unknown>, result);
        }
      }),
      fuzzParams(600),
    );
    expect(accepted, 'the generator reaches accepted tokens too').toBeGreaterThan(0);
  }, FUZZ_TIMEOUT_MS);
});
