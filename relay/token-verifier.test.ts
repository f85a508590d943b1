import { createPublicKey, KeyObject, sign as nodeSign, type JsonWebKey } from 'node:crypto';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JSONWebKeySet } from 'jose';
import { ed25519 } from '@noble/curves/ed25519.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { toBase64Url } from '../protocol/bytes.js';
import { startRelay } from './relay-server.js';
import { TokenRejectedError, TokenVerifier, type TokenRejectReason } from './token-verifier.js';

/** sbrp.md §5, claim by claim: every rejection has its own stable reason. */

const ISS = 'https://relay.example';
const NOW_S = 1_800_000_000;
let privateKey: CryptoKey;
let otherKey: CryptoKey;
let jwks: JSONWebKeySet;
let verifier: TokenVerifier;

const sign = (claims: Record<string, unknown>, header: Record<string, unknown> = {}, key: CryptoKey = privateKey): Promise<string> =>
  new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'sbrp-relay+jwt', kid: 'k1', ...header }).sign(key);

const claims = (role: 'daemon' | 'client', overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  iss: ISS, aud: ['sideband-relay'], iat: NOW_S - 10, exp: NOW_S + 50, jti: 'j1', role,
  sub: role === 'daemon' ? 'd1' : 'user', did: 'd1', ...(role === 'client' ? { sid: 'AAALOnPOL_I' } : { scp: ['session:resume'] }),
  ...overrides,
});

async function rejection(token: string, v: TokenVerifier = verifier): Promise<TokenRejectReason> {
  try {
    await v.verify(token);
  } catch (error) {
    if (error instanceof TokenRejectedError) return error.reason;
    throw error;
  }
  throw new Error('token was accepted');
}

describe('TokenVerifier', () => {
  beforeAll(async () => {
    const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    privateKey = pair.privateKey;
    ({ privateKey: otherKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' }));
    jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'EdDSA', use: 'sig' }] };
    verifier = new TokenVerifier({ issuer: ISS, keys: createLocalJWKSet(jwks), now: () => NOW_S * 1000 });
  });

  it('accepts valid daemon and client tokens and returns their claims', async () => {
    const daemon = await verifier.verify(await sign(claims('daemon')));
    expect(daemon).toMatchObject({ role: 'daemon', sub: 'd1', did: 'd1', jti: 'j1' });
    expect(daemon.scopes.has('session:resume')).toBe(true);
    expect(daemon.sid).toBeUndefined();
    const client = await verifier.verify(await sign(claims('client', { aud: 'sideband-relay', scp: ['unknown:scope'] })));
    expect(client.sid).toBe(0x00000b3a73ce2ff2n); // sbrp.md §5 example
    expect(client.scopes.has('session:resume')).toBe(false);
  });

  const cases: [string, () => Promise<string>, TokenRejectReason][] = [
    ['empty', async () => '', 'missing'],
    ['over 4096 characters', async () => sign(claims('daemon', { pad: 'x'.repeat(4096) })), 'too_long'],
    ['not a JWT', async () => 'abc.def', 'malformed'],
    ['alg none', async () => `${b64({ alg: 'none', typ: 'sbrp-relay+jwt', kid: 'k1' })}.${b64(claims('daemon'))}.`, 'bad_alg'],
    ['alg HS256', async () => `${b64({ alg: 'HS256', typ: 'sbrp-relay+jwt', kid: 'k1' })}.${b64(claims('daemon'))}.c2ln`, 'bad_alg'],
    ['typ JWT', async () => sign(claims('daemon'), { typ: 'JWT' }), 'bad_typ'],
    ['no kid', async () => sign(claims('daemon'), { kid: undefined }), 'unknown_kid'],
    ['unknown kid', async () => sign(claims('daemon'), { kid: 'k2' }), 'unknown_kid'],
    ['wrong key', async () => sign(claims('daemon'), {}, otherKey), 'bad_signature'],
    ['wrong iss', async () => sign(claims('daemon', { iss: 'https://evil.example' })), 'bad_iss'],
    ['aud missing', async () => sign(claims('daemon', { aud: undefined })), 'bad_aud'],
    ['aud without sideband-relay', async () => sign(claims('daemon', { aud: ['other'] })), 'bad_aud'],
    ['iat missing', async () => sign(claims('daemon', { iat: undefined })), 'bad_iat'],
    ['iat a string', async () => sign(claims('daemon', { iat: String(NOW_S) })), 'bad_iat'],
    ['exp missing', async () => sign(claims('daemon', { exp: undefined })), 'bad_exp'],
    ['exp before iat', async () => sign(claims('daemon', { exp: NOW_S - 20 })), 'bad_exp'],
    ['expired past the skew', async () => sign(claims('daemon', { iat: NOW_S - 100, exp: NOW_S - 30 })), 'expired'],
    ['issued in the future', async () => sign(claims('daemon', { iat: NOW_S + 31, exp: NOW_S + 60 })), 'not_yet_valid'],
    ['nbf in the future', async () => sign(claims('daemon', { nbf: NOW_S + 31 })), 'not_yet_valid'],
    ['jti missing', async () => sign(claims('daemon', { jti: undefined })), 'missing_jti'],
    ['role admin', async () => sign(claims('daemon', { role: 'admin' })), 'bad_role'],
    ['sub empty', async () => sign(claims('daemon', { sub: '' })), 'bad_sub'],
    ['did missing', async () => sign(claims('client', { did: undefined })), 'bad_did'],
    ['client without sid', async () => sign(claims('client', { sid: undefined })), 'bad_sid'],
    ['client sid zero', async () => sign(claims('client', { sid: toBase64Url(new Uint8Array(8)) })), 'bad_sid'],
    ['client sid padded', async () => sign(claims('client', { sid: 'AAALOnPOL_I=' })), 'bad_sid'],
    ['scp not an array', async () => sign(claims('daemon', { scp: 'session:resume' })), 'bad_scp'],
    ['ver 2', async () => sign(claims('daemon', { ver: 2 })), 'bad_ver'],
    ['client lifetime over 300 s', async () => sign(claims('client', { iat: NOW_S - 10, exp: NOW_S + 291 })), 'lifetime_too_long'],
    // The JWS rules this verifier checks itself (it verifies with node:crypto, not jose).
    ['a crit extension', async () => signRaw({ alg: 'EdDSA', typ: 'sbrp-relay+jwt', kid: 'k1', crit: ['x-ext'], 'x-ext': 1 }, JSON.stringify(claims('daemon'))), 'malformed'],
    ['four segments', async () => `${await sign(claims('daemon'))}.AAAA`, 'malformed'],
    ['a padded signature', async () => `${await sign(claims('daemon'))}==`, 'malformed'],
    ['a signature with a character outside base64url', async () => `${(await sign(claims('daemon'))).slice(0, -1)}+`, 'malformed'],
    ['a segment of 4n + 1 characters', async () => `${await sign(claims('daemon'))}AAA`, 'malformed'], // 86 + 3 = 89
    ['a header that is not JSON', async () => `${toBase64Url(new TextEncoder().encode('{"alg":'))}.${b64(claims('daemon'))}.AAAA`, 'malformed'],
    ['a truncated signature', async () => (await sign(claims('daemon'))).slice(0, -4), 'bad_signature'],
    ['a payload swapped under a valid signature', async () => {
      const [header, , signature] = (await sign(claims('daemon'))).split('.');
      return `${header}.${b64(claims('daemon', { did: 'd2', sub: 'd2' }))}.${signature}`;
    }, 'bad_signature'],
    ['a signed payload that is not JSON', async () => signRaw({ alg: 'EdDSA', typ: 'sbrp-relay+jwt', kid: 'k1' }, 'not json'), 'malformed'],
    ['a signed payload that is a JSON array', async () => signRaw({ alg: 'EdDSA', typ: 'sbrp-relay+jwt', kid: 'k1' }, '[1]'), 'malformed'],
  ];

  it.each(cases)('rejects %s', async (_name, make, reason) => {
    expect(await rejection(await make())).toBe(reason);
  });

  it('takes only an Ed25519 public key from the key resolver (bad_alg otherwise)', async () => {
    const token = await sign(claims('daemon'));
    const p256 = (await generateKeyPair('ES256')).publicKey;
    for (const key of [p256, privateKey, new Uint8Array(32)]) {
      expect(await rejection(token, new TokenVerifier({ issuer: ISS, keys: async () => key, now: () => NOW_S * 1000 }))).toBe('bad_alg');
    }
    // A JWK or a KeyObject is as good as the CryptoKey a JWKS resolver returns.
    const jwk = jwks.keys[0]!;
    expect((await new TokenVerifier({ issuer: ISS, keys: async () => jwk, now: () => NOW_S * 1000 }).verify(token)).did).toBe('d1');
    const keyObject = createPublicKey({ key: { ...jwk } as JsonWebKey, format: 'jwk' });
    expect((await new TokenVerifier({ issuer: ISS, keys: async () => keyObject as never, now: () => NOW_S * 1000 }).verify(token)).did).toBe('d1');
  });

  it('accepts ver 1, a missing ver, a string aud, and a client lifetime of exactly 300 s', async () => {
    await verifier.verify(await sign(claims('client', { ver: undefined, aud: 'sideband-relay', iat: NOW_S - 10, exp: NOW_S + 290 })));
    await verifier.verify(await sign(claims('daemon', { ver: 1, iat: NOW_S - 10, exp: NOW_S + 7200 })));
  });

  it('verifies against a remote JWKS and reports an unreachable one as jwks_unavailable (503)', async () => {
    const relay = await startRelay({ port: 0, issuer: ISS });
    try {
      const { daemonId } = await relay.controlPlane.registerDaemon({ identityPublicKey: toBase64Url(ed25519.getPublicKey(ed25519.utils.randomSecretKey())) });
      const { token } = await relay.controlPlane.issuePresenceToken(daemonId);
      const remote = new TokenVerifier({ issuer: ISS, jwksUrl: `${relay.url}/.well-known/jwks.json` });
      expect((await remote.verify(token)).did).toBe(daemonId);
      expect(await rejection(await sign(claims('daemon')), remote)).toBe('unknown_kid');
    } finally {
      await relay.close();
    }
    const dead = new TokenVerifier({ issuer: ISS, jwksUrl: 'http://127.0.0.1:1/.well-known/jwks.json' });
    const error = await dead.verify(await sign(claims('daemon'))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenRejectedError);
    expect((error as TokenRejectedError).reason).toBe('jwks_unavailable');
    expect((error as TokenRejectedError).status).toBe(503);
  });
});

/** A compact JWS over any header and payload text, signed by the test key (jose refuses some of these). */
function signRaw(header: Record<string, unknown>, payload: string): string {
  const input = `${b64(header)}.${toBase64Url(new TextEncoder().encode(payload))}`;
  return `${input}.${nodeSign(null, Buffer.from(input), KeyObject.from(privateKey)).toString('base64url')}`;
}

function b64(value: unknown): string {
  return toBase64Url(new TextEncoder().encode(JSON.stringify(value)));
}
