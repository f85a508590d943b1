import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { afterEach, describe, expect, it } from 'vitest';
import { toBase64Url } from '../protocol/bytes.js';
import { MemoryControlPlaneStore } from './control-plane/memory-store.js';
import { CORS_PREFLIGHT, decideCors } from './cors.js';
import { startRelay, type RelayOptions, type RelayServer } from './index.js';

/**
 * CORS of the control-plane API: the pure decision, then a real relay on port 0 answering the
 * requests a page on another origin (http://127.0.0.1:5173) makes, and the ones an attacker's
 * page or a misbehaving client makes.
 */

const APP = 'http://127.0.0.1:5173';
const ALLOWED: ReadonlySet<string> = new Set([APP, 'https://app.example']);

describe('decideCors', () => {
  it('sends nothing when the allowlist is unset, whatever the request', () => {
    for (const origin of [undefined, APP, 'null', 'https://evil.example']) {
      for (const method of ['GET', 'POST', 'OPTIONS', undefined]) {
        expect(decideCors(origin, method, undefined)).toEqual({ action: 'continue', headers: {} });
      }
    }
  });

  it('lets a request without Origin (Node) through with only Vary', () => {
    expect(decideCors(undefined, 'POST', ALLOWED)).toEqual({ action: 'continue', headers: { vary: 'Origin' } });
    expect(decideCors(undefined, 'OPTIONS', ALLOWED)).toEqual({ action: 'continue', headers: { vary: 'Origin' } });
  });

  it('echoes an allowed origin, never *, never credentials, and exposes Retry-After', () => {
    const { action, headers } = decideCors(APP, 'POST', ALLOWED);
    expect(action).toBe('continue');
    expect(headers).toEqual({ vary: 'Origin', 'access-control-allow-origin': APP, 'access-control-expose-headers': 'retry-after' });
  });

  it('answers a preflight from an allowed origin with methods, headers and max-age', () => {
    expect(decideCors('https://app.example', 'OPTIONS', ALLOWED)).toEqual({
      action: 'preflight',
      headers: {
        vary: 'Origin',
        'access-control-allow-origin': 'https://app.example',
        'access-control-expose-headers': 'retry-after',
        'access-control-allow-methods': 'GET, POST, DELETE',
        'access-control-allow-headers': 'content-type, authorization',
        'access-control-max-age': '600',
      },
    });
    expect(CORS_PREFLIGHT.maxAgeSeconds).toBe(600);
  });

  it.each([
    ['another site', 'https://evil.example'],
    ['the opaque origin', 'null'],
    ['mixed case', 'HTTP://127.0.0.1:5173'],
    ['a path', `${APP}/`],
    ['a default port spelled out', 'https://app.example:443'],
    ['a suffix', `${APP}.evil.example`],
    ['a prefix', `x${APP}`],
    ['two Origin headers joined by Node', `${APP}, ${APP}`],
    ['whitespace', ` ${APP}`],
    ['an empty value', ''],
    ['a very long value', `https://${'a'.repeat(10_000)}.example`],
  ])('refuses %s, preflight or not, with no allow header', (_name, origin) => {
    for (const method of ['OPTIONS', 'POST', 'GET']) {
      expect(decideCors(origin, method, ALLOWED)).toEqual({ action: 'refuse', headers: { vary: 'Origin' } });
    }
  });

  it('never allows the opaque origin, even when listed', () => {
    expect(decideCors('null', 'OPTIONS', new Set(['null']))).toMatchObject({ action: 'refuse' });
  });

  it('refuses everything when the allowlist is empty', () => {
    expect(decideCors(APP, 'OPTIONS', new Set())).toMatchObject({ action: 'refuse' });
    expect(decideCors(undefined, 'POST', new Set())).toMatchObject({ action: 'continue' });
  });
});

describe('CORS on a real relay', () => {
  let relays: RelayServer[] = [];
  afterEach(async () => {
    await Promise.all(relays.map((r) => r.close()));
    relays = [];
  });

  const DEVICE_ID = `dev_${randomBytes(16).toString('hex')}`;

  /** A relay with one paired device, so POST /v1/devices/challenge can succeed. */
  async function relayWithDevice(options: RelayOptions = {}): Promise<RelayServer> {
    const store = new MemoryControlPlaneStore();
    const relay = await startRelay({ port: 0, store, quickConnect: true, ...options });
    relays.push(relay);
    const identityPublicKey = toBase64Url(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));
    const { daemonId } = await relay.controlPlane.registerDaemon({ identityPublicKey });
    const publicKey = toBase64Url(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));
    await store.insertDevice({ deviceId: DEVICE_ID, daemonId, publicKey, label: 'phone', createdAt: Date.now() }, 100);
    return relay;
  }

  const send = async (relay: RelayServer, path: string, init: { method?: string; origin?: string; key?: string; body?: unknown } = {}) => {
    const headers: Record<string, string> = {};
    if (init.origin !== undefined) headers.origin = init.origin;
    if (init.key !== undefined) headers.authorization = `Bearer ${init.key}`;
    if (init.method === 'OPTIONS') {
      headers['access-control-request-method'] = 'POST';
      headers['access-control-request-headers'] = 'content-type';
    }
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${relay.url}${path}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers,
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: res.headers.get('content-type')?.startsWith('application/json') ? (JSON.parse(text) as { error?: { code: string } }) : undefined };
  };
  const preflight = (relay: RelayServer, path: string, origin?: string) => send(relay, path, { method: 'OPTIONS', ...(origin === undefined ? {} : { origin }) });
  const challenge = (relay: RelayServer, origin?: string, deviceId = DEVICE_ID) =>
    send(relay, '/v1/devices/challenge', { body: { deviceId }, ...(origin === undefined ? {} : { origin }) });

  it('answers an allowed preflight with 204 and the CORS headers', async () => {
    const relay = await relayWithDevice({ allowedOrigins: [APP] });
    const res = await preflight(relay, '/v1/devices/challenge', APP);
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(res.headers.get('access-control-allow-methods')).toBe('GET, POST, DELETE');
    expect(res.headers.get('access-control-allow-headers')).toBe('content-type, authorization');
    expect(res.headers.get('access-control-max-age')).toBe('600');
    expect(res.headers.get('vary')).toBe('Origin');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    // Parameterised routes and the JWKS are control-plane routes too.
    expect((await preflight(relay, `/v1/devices/${DEVICE_ID}`, APP)).status).toBe(204);
    expect((await preflight(relay, '/.well-known/jwks.json', APP)).status).toBe(204);
  });

  it('answers an allowed POST with the allow-origin header and a readable body', async () => {
    const relay = await relayWithDevice({ allowedOrigins: [APP] });
    const res = await challenge(relay, APP);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ challenge: expect.any(String) });
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(res.headers.get('access-control-expose-headers')).toBe('retry-after');
    expect(res.headers.get('vary')).toBe('Origin');
    expect(res.headers.get('access-control-allow-methods')).toBeNull();
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('puts the CORS headers on errors, so the page can read the code', async () => {
    const relay = await relayWithDevice({ allowedOrigins: [APP], limits: { quickConnectsPerMinute: 1 } });
    const expectReadable = (res: Awaited<ReturnType<typeof send>>, status: number, code: string): void => {
      expect(res.status).toBe(status);
      expect(res.json?.error?.code).toBe(code);
      expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    };
    expectReadable(await challenge(relay, APP, `dev_${'0'.repeat(32)}`), 404, 'device_not_found');
    expectReadable(await challenge(relay, APP, 'nope'), 400, 'invalid_request');
    expectReadable(await send(relay, '/v1/devices', { origin: APP }), 401, 'unauthorized');
    expectReadable(await send(relay, '/v1/devices', { origin: APP, method: 'PUT' }), 405, 'method_not_allowed');
    expectReadable(await send(relay, '/v1/nope', { origin: APP }), 404, 'not_found');

    const { apiKey } = await relay.controlPlane.registerDaemon({ identityPublicKey: toBase64Url(ed25519.getPublicKey(ed25519.utils.randomSecretKey())) });
    expect((await send(relay, '/v1/quick-connect', { origin: APP, key: apiKey, body: {} })).status).toBe(201);
    const limited = await send(relay, '/v1/quick-connect', { origin: APP, key: apiKey, body: {} });
    expectReadable(limited, 429, 'rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.headers.get('access-control-expose-headers')).toBe('retry-after');
  });

  it('refuses a disallowed origin with 403 forbidden, preflight or not, before doing anything', async () => {
    const relay = await relayWithDevice({ allowedOrigins: [APP] });
    for (const res of [await preflight(relay, '/v1/devices/challenge', 'https://evil.example'), await challenge(relay, 'https://evil.example')]) {
      expect(res.status).toBe(403);
      expect(res.json).toEqual({ error: { code: 'forbidden', message: 'origin not allowed' } });
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(res.headers.get('vary')).toBe('Origin');
    }
    // Refused before authentication: a wrong key gets 403 here, not 401.
    expect((await send(relay, '/v1/devices', { origin: 'https://evil.example', key: 'whatever' })).status).toBe(403);
  });

  it.each([
    ['Origin: null', 'null'],
    ['a very long origin', `http://${'a'.repeat(8000)}.example`],
    ['an origin with a path', `${APP}/app`],
    ['mixed case', 'HTTP://127.0.0.1:5173'],
    ['a look-alike', `${APP}.evil.example`],
  ])('refuses %s without echoing it', async (_name, origin) => {
    const relay = await relayWithDevice({ allowedOrigins: [APP] });
    for (const res of [await preflight(relay, '/v1/devices/challenge', origin), await challenge(relay, origin)]) {
      expect(res.status).toBe(403);
      expect(res.json?.error?.code).toBe('forbidden');
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(res.text).not.toContain(origin);
    }
  });

  it('refuses two Origin headers (Node joins them, which matches no entry)', async () => {
    const relay = await relayWithDevice({ allowedOrigins: [APP] });
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${relay.url}/v1/devices/challenge`, { method: 'OPTIONS', headers: ['host', new URL(relay.url).host, 'origin', APP, 'origin', APP] }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(403);
  });

  it('serves callers without Origin (Node) as before', async () => {
    const relay = await relayWithDevice({ allowedOrigins: [APP] });
    const res = await challenge(relay);
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect((await preflight(relay, '/v1/devices/challenge')).status).toBe(405);
  });

  it('answers a preflight for an unknown path with 404', async () => {
    const relay = await relayWithDevice({ allowedOrigins: [APP] });
    const res = await preflight(relay, '/v1/nope', APP);
    expect(res.status).toBe(404);
    expect(res.json?.error?.code).toBe('not_found');
    expect((await preflight(relay, '/v1/nope', 'https://evil.example')).status).toBe(404);
  });

  it('sends no CORS header at all without an allowlist', async () => {
    const relay = await relayWithDevice();
    const pre = await preflight(relay, '/v1/devices/challenge', APP);
    expect(pre.status).toBe(405);
    expect(pre.headers.get('allow')).toBe('POST');
    const res = await challenge(relay, APP);
    expect(res.status).toBe(200);
    for (const r of [pre, res]) {
      expect(r.headers.get('access-control-allow-origin')).toBeNull();
      expect(r.headers.get('vary')).toBeNull();
    }
  });

  it('leaves /healthz, /metrics and /v1/connect without CORS', async () => {
    const relay = await relayWithDevice({ allowedOrigins: [APP] });
    for (const path of ['/healthz', '/metrics', '/v1/connect']) {
      const res = await send(relay, path, { origin: APP });
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(res.headers.get('vary')).toBeNull();
    }
    expect((await send(relay, '/healthz', { origin: APP })).status).toBe(200);
    expect((await preflight(relay, '/healthz', APP)).status).toBe(405);
    expect((await preflight(relay, '/metrics', APP)).status).toBe(405);
  });
});
