import { request } from 'node:http';
import { ed25519 } from '@noble/curves/ed25519.js';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64Url } from '../../protocol/bytes.js';
import { decodeSid } from '../../protocol/session-id.js';
import { startRelay, type RelayServer } from '../relay-server.js';
import { MemoryControlPlaneStore } from './memory-store.js';

/** The control-plane HTTP API: JSON in and out, stable error codes, auth before anything else. */

const ADMIN = 'admin-key-for-tests-0123456789';
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- bodies are checked field by field by the assertions
type Json = any;
const identityKey = (): string => toBase64Url(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));

describe('control-plane HTTP API', () => {
  let relay: RelayServer;
  let call: (path: string, init?: { method?: string; key?: string; body?: unknown; raw?: string; type?: string }) => Promise<{ status: number; json: Json; headers: Headers }>;

  beforeAll(async () => {
    relay = await startRelay({ port: 0, adminKey: ADMIN, store: new MemoryControlPlaneStore({ maxDaemons: 5 }) });
    call = async (path, init = {}) => {
      const headers: Record<string, string> = {};
      if (init.key) headers.authorization = `Bearer ${init.key}`;
      let body: string | undefined = init.raw;
      if (init.body !== undefined) body = JSON.stringify(init.body);
      if (body !== undefined) headers['content-type'] = init.type ?? 'application/json';
      const res = await fetch(`${relay.url}${path}`, { method: init.method ?? (body === undefined ? 'GET' : 'POST'), headers, body });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : undefined, headers: res.headers };
    };
  });
  afterAll(async () => {
    await relay.close();
  });

  const expectError = (res: { status: number; json: Json }, status: number, code: string): void => {
    expect(res.status).toBe(status);
    expect(res.json.error.code).toBe(code);
    expect(res.json.error.message).toBeTypeOf('string');
  };

  it('registers a daemon, issues presence and session tokens, and reports it', async () => {
    const identityPublicKey = identityKey();
    const reg = await call('/v1/daemons', { key: ADMIN, body: { identityPublicKey, label: 'laptop' } });
    expect(reg.status).toBe(201);
    const { daemonId, apiKey } = reg.json;
    expect(daemonId).toMatch(/^dmn_[0-9a-f]{24}$/);
    expect(apiKey.length).toBeGreaterThan(40);

    const jwks = (await call('/.well-known/jwks.json')).json;
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
    expect(jwks.keys[0].d).toBeUndefined();
    const keys = createLocalJWKSet(jwks);

    const presence = await call('/v1/tokens/presence', { key: apiKey, method: 'POST' });
    expect(presence.status).toBe(200);
    expect(presence.json.daemonId).toBe(daemonId);
    const p = await jwtVerify(presence.json.token, keys, { issuer: 'sideband-control-plane', audience: 'sideband-relay' });
    expect(decodeProtectedHeader(presence.json.token)).toMatchObject({ alg: 'EdDSA', typ: 'sbrp-relay+jwt', kid: jwks.keys[0].kid });
    expect(p.payload).toMatchObject({ role: 'daemon', sub: daemonId, did: daemonId, scp: ['session:resume'], ver: 1 });
    expect(p.payload.exp! - p.payload.iat!).toBe(3600);
    expect(presence.json.expiresAt).toBe(p.payload.exp);
    expect(p.payload.jti).toBeTypeOf('string');

    const noResume = await call('/v1/tokens/presence', { key: apiKey, body: { resume: false } });
    expect((await jwtVerify(noResume.json.token, keys)).payload.scp).toEqual([]);

    const s1 = await call('/v1/tokens/session', { key: apiKey, body: { daemonId } });
    const s2 = await call('/v1/tokens/session', { key: ADMIN, body: { daemonId } });
    expect(s1.status).toBe(200);
    const c1 = (await jwtVerify(s1.json.token, keys)).payload;
    const c2 = (await jwtVerify(s2.json.token, keys)).payload;
    expect(c1).toMatchObject({ role: 'client', sub: `daemon-key:${daemonId}`, did: daemonId, sid: s1.json.sid });
    expect(c2.sub).toBe('admin');
    expect(c1.sid).not.toBe(c2.sid); // a fresh sid every call
    expect(decodeSid(s1.json.sid)).toBe(BigInt(s1.json.sessionId));
    expect(c1.exp! - c1.iat!).toBe(60);

    const info = await call(`/v1/daemons/${daemonId}`, { key: apiKey });
    expect(info.json).toEqual({ daemonId, identityPublicKey, label: 'laptop', online: false });
    expect((await call(`/v1/daemons/${daemonId}`, { key: ADMIN })).status).toBe(200);
  });

  it('answers /healthz', async () => {
    expect(await call('/healthz')).toMatchObject({ status: 200, json: { ok: true } });
  });

  it('requires auth and tells missing or wrong keys apart from forbidden ones', async () => {
    expectError(await call('/v1/daemons', { body: { identityPublicKey: identityKey() } }), 401, 'unauthorized');
    expectError(await call('/v1/daemons', { key: 'wrong', body: { identityPublicKey: identityKey() } }), 401, 'unauthorized');
    const { daemonId, apiKey } = (await call('/v1/daemons', { key: ADMIN, body: { identityPublicKey: identityKey() } })).json;
    // A tampered key with the right shape and id is still unauthorized.
    expectError(await call('/v1/tokens/presence', { key: `${apiKey.slice(0, -1)}${apiKey.endsWith('A') ? 'B' : 'A'}`, method: 'POST' }), 401, 'unauthorized');
    expectError(await call('/v1/daemons', { key: apiKey, body: { identityPublicKey: identityKey() } }), 403, 'forbidden');
    expectError(await call('/v1/tokens/presence', { key: ADMIN, method: 'POST' }), 403, 'forbidden');
    const other = (await call('/v1/daemons', { key: ADMIN, body: { identityPublicKey: identityKey() } })).json;
    expectError(await call('/v1/tokens/session', { key: apiKey, body: { daemonId: other.daemonId } }), 403, 'forbidden');
    expectError(await call(`/v1/daemons/${other.daemonId}`, { key: apiKey }), 403, 'forbidden');
    expectError(await call('/v1/tokens/session', { key: ADMIN, body: { daemonId: 'dmn_000000000000000000000000' } }), 404, 'daemon_not_found');
    expectError(await call('/v1/daemons/nope', { key: ADMIN }), 404, 'daemon_not_found');
    expectError(await call('/v1/daemons/%E0%A4%A', { key: ADMIN }), 404, 'daemon_not_found');
    expect(daemonId).toBeTypeOf('string');
  });

  it('rejects malformed JSON, wrong content type, oversize and invalid bodies with stable codes', async () => {
    expectError(await call('/v1/daemons', { key: ADMIN, raw: '{"identityPublicKey":' }), 400, 'invalid_json');
    expectError(await call('/v1/daemons', { key: ADMIN, raw: '[]' }), 400, 'invalid_request');
    expectError(await call('/v1/daemons', { key: ADMIN, raw: '{}', type: 'text/plain' }), 415, 'unsupported_media_type');
    expectError(await call('/v1/daemons', { key: ADMIN, raw: JSON.stringify({ identityPublicKey: identityKey(), label: 'x'.repeat(17 * 1024) }) }), 413, 'payload_too_large');
    expectError(await call('/v1/daemons', { key: ADMIN, body: { identityPublicKey: 'AAAA' } }), 400, 'invalid_request');
    expectError(await call('/v1/daemons', { key: ADMIN, body: { identityPublicKey: toBase64Url(new Uint8Array(32).fill(0xff)) } }), 400, 'invalid_request');
    expectError(await call('/v1/daemons', { key: ADMIN, body: { identityPublicKey: identityKey(), label: 'x'.repeat(200) } }), 400, 'invalid_request');
    expectError(await call('/v1/daemons', { key: ADMIN, method: 'POST' }), 400, 'invalid_request');
    expectError(await call('/v1/tokens/session', { key: ADMIN, body: { daemonId: 42 } }), 400, 'invalid_request');
    const { apiKey } = (await call('/v1/daemons', { key: ADMIN, body: { identityPublicKey: identityKey() } })).json;
    expectError(await call('/v1/tokens/presence', { key: apiKey, body: { resume: 'yes' } }), 400, 'invalid_request');
  });

  it('stops reading a chunked body that passes the limit', async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${relay.url}/v1/daemons`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.write('{"label":"');
      req.end(`${'y'.repeat(20 * 1024)}"}`);
    });
    expect(status).toBe(413);
    expect(JSON.parse(body).error.code).toBe('payload_too_large');
  });

  it('answers unknown routes with 404 and wrong methods with 405', async () => {
    expectError(await call('/v2/nothing'), 404, 'not_found');
    const res = await call('/v1/daemons', { key: ADMIN });
    expectError(res, 405, 'method_not_allowed');
    expect(res.headers.get('allow')).toBe('POST');
    expectError(await call('/.well-known/jwks.json', { method: 'DELETE' }), 405, 'method_not_allowed');
  });

  it('answers store_full (503) when the store is at its daemon limit', async () => {
    let last;
    for (let i = 0; i < 6; i++) last = await call('/v1/daemons', { key: ADMIN, body: { identityPublicKey: identityKey() } });
    expectError(last!, 503, 'store_full');
  });
});
