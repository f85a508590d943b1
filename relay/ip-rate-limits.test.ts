import type { IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { addressKey, clientAddressKey, IpRateLimiter } from './ip-rate-limiter.js';
import type { RelayOptions } from './options.js';
import { startRelay, type RelayServer } from './relay-server.js';

/** Per-IP limits of the unauthenticated control-plane routes, and the optional /metrics token. */

describe('IpRateLimiter', () => {
  it('allows the burst, then answers with the seconds until the next request is allowed', () => {
    let now = 0;
    const limiter = new IpRateLimiter({ perMinute: 30, burst: 3 }, 100, () => now);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([0, 0, 0]);
    expect(limiter.take('a')).toBe(2); // 30/min = one every 2 s
    expect(limiter.take('b')).toBe(0); // other addresses are unaffected
    now += 1999;
    expect(limiter.take('a')).toBe(1);
    now += 2001;
    expect(limiter.take('a')).toBe(0);
  });

  it('never tracks more than maxEntries addresses, forgetting the least recently seen', () => {
    let now = 0;
    const limiter = new IpRateLimiter({ perMinute: 1, burst: 1 }, 100, () => now);
    expect(limiter.take('keep')).toBe(0);
    for (let i = 0; i < 10_000; i++) {
      now++;
      limiter.take(`10.0.${i >> 8}.${i & 0xff}`);
      if (i % 50 === 0) expect(limiter.take('keep')).toBeGreaterThan(0); // recently seen: kept, still limited
      expect(limiter.size).toBeLessThanOrEqual(100);
    }
    expect(limiter.size).toBe(100);
    // An address pushed out by a flood of others starts again with a full bucket (the bound's price).
    expect(limiter.take('10.0.0.0')).toBe(0);
  });

  it('is not fooled by hostile keys', () => {
    const limiter = new IpRateLimiter({ perMinute: 1, burst: 1 }, 10, () => 0);
    for (const key of ['__proto__', 'constructor', '', 'x'.repeat(10_000)]) {
      expect(limiter.take(key)).toBe(0);
      expect(limiter.take(key)).toBe(60);
    }
  });
});

describe('addressKey', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['::FFFF:cb00:7107', '203.0.113.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::ffff', '2001:db8:1:2::/64'],
    ['2001:DB8:1:2:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['::', '0:0:0:0::/64'],
    ['64:ff9b::192.0.2.33', '64:ff9b:0:0::/64'],
  ])('%s → %s', (address, key) => {
    expect(addressKey(address)).toBe(key);
  });

  it.each(['', 'localhost', '1.2.3', '1.2.3.256', '::g', '1:2:3:4:5:6:7:8:9', 'x'.repeat(100), '203.0.113.7, 10.0.0.1', ' 203.0.113.7'])('refuses %j', (address) => {
    expect(addressKey(address)).toBeUndefined();
  });

  const req = (remoteAddress: string | undefined, xff?: string | string[]): IncomingMessage =>
    ({ socket: { remoteAddress }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } }) as unknown as IncomingMessage;

  it('ignores X-Forwarded-For unless the proxy is trusted, then takes its last valid entry', () => {
    expect(clientAddressKey(req('10.0.0.1', '198.51.100.9'), false)).toBe('10.0.0.1');
    expect(clientAddressKey(req('10.0.0.1', '1.1.1.1, 198.51.100.9'), true)).toBe('198.51.100.9');
    expect(clientAddressKey(req('10.0.0.1', ['1.1.1.1', '198.51.100.9 ']), true)).toBe('198.51.100.9');
    expect(clientAddressKey(req('10.0.0.1', '198.51.100.9, garbage'), true)).toBe('10.0.0.1');
    expect(clientAddressKey(req('10.0.0.1'), true)).toBe('10.0.0.1');
    expect(clientAddressKey(req(undefined), false)).toBe('unknown');
  });

  it('exempts loopback peers (local processes, or a same-host proxy without trustProxy)', () => {
    for (const address of ['127.0.0.1', '127.9.9.9', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) {
      expect(clientAddressKey(req(address), false), address).toBeUndefined();
    }
    expect(clientAddressKey(req('::'), false)).toBe('0:0:0:0::/64');
    expect(clientAddressKey(req('::2'), false)).toBe('0:0:0:0::/64');
    // Behind a trusted same-host proxy the forwarded address counts, and a loopback one stays exempt.
    expect(clientAddressKey(req('127.0.0.1', '198.51.100.9'), true)).toBe('198.51.100.9');
    expect(clientAddressKey(req('127.0.0.1', '127.0.0.1'), true)).toBeUndefined();
    expect(clientAddressKey(req('127.0.0.1', 'spoofed'), true)).toBeUndefined();
  });
});

describe('per-IP limits over HTTP', () => {
  let relay: RelayServer | undefined;
  afterEach(async () => {
    await relay?.close();
    relay = undefined;
  });
  // The tests connect from loopback, which is exempt: they act as a trusted same-host proxy and
  // name the client address in X-Forwarded-For.
  const start = async (options: RelayOptions): Promise<RelayServer> => (relay = await startRelay({ port: 0, quickConnect: true, trustProxy: true, ...options }));
  const post = async (path: string, body: unknown, headers: Record<string, string> = { 'x-forwarded-for': '203.0.113.1' }) => {
    const res = await fetch(`${relay!.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    const json = (await res.json()) as { error?: { code: string } };
    return { status: res.status, code: json.error?.code, retryAfter: res.headers.get('retry-after') };
  };

  it('answers 429 rate_limited with Retry-After once an address spends its redeem burst', async () => {
    await start({ limits: { redeemPerIp: { perMinute: 2, burst: 3 } } });
    const hostile = [{ code: 'x' }, { code: '\u0000'.repeat(100) }, {}];
    for (const body of hostile) expect((await post('/v1/quick-connect/redeem', body)).status).toBe(400);
    expect(await post('/v1/quick-connect/redeem', { code: 'ABCDE' })).toEqual({ status: 429, code: 'rate_limited', retryAfter: '30' });
    // Other routes are not limited by it.
    expect((await post('/v1/devices/challenge', { deviceId: 'dev_x' })).status).toBe(400);
  });

  it('shares one bucket between device challenge and device token', async () => {
    await start({ limits: { deviceAuthPerIp: { perMinute: 60, burst: 4 } } });
    expect((await post('/v1/devices/challenge', { deviceId: 'nope' })).status).toBe(400);
    expect((await post('/v1/tokens/device', { deviceId: 'nope' })).status).toBe(400);
    expect((await post('/v1/devices/challenge', { deviceId: `dev_${'0'.repeat(32)}` })).status).toBe(404);
    expect((await post('/v1/tokens/device', 'not an object')).status).toBe(400);
    expect(await post('/v1/devices/challenge', { deviceId: 'x' })).toEqual({ status: 429, code: 'rate_limited', retryAfter: '1' });
    expect(await post('/v1/tokens/device', {})).toMatchObject({ status: 429, code: 'rate_limited' });
    // Authenticated routes are not limited per IP.
    expect((await post('/v1/daemons', {})).status).toBe(401);
  });

  it('does not limit loopback peers without trustProxy (a spoofed X-Forwarded-For changes nothing)', async () => {
    await start({ trustProxy: false, limits: { redeemPerIp: { perMinute: 1, burst: 1 } } });
    for (let i = 0; i < 5; i++) expect((await post('/v1/quick-connect/redeem', {}, { 'x-forwarded-for': '198.51.100.1' })).status).toBe(400);
  });

  it('counts each forwarded address separately with trustProxy, by its last X-Forwarded-For entry', async () => {
    await start({ limits: { redeemPerIp: { perMinute: 1, burst: 1 } } });
    expect((await post('/v1/quick-connect/redeem', {}, { 'x-forwarded-for': '198.51.100.1' })).status).toBe(400);
    expect((await post('/v1/quick-connect/redeem', {}, { 'x-forwarded-for': '198.51.100.2' })).status).toBe(400);
    expect((await post('/v1/quick-connect/redeem', {}, { 'x-forwarded-for': '203.0.113.5, 198.51.100.2' })).status).toBe(429);
  });

  it('does not count CORS preflights', async () => {
    await start({ allowedOrigins: ['https://app.example'], limits: { redeemPerIp: { perMinute: 1, burst: 1 } } });
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${relay!.url}/v1/quick-connect/redeem`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'x-forwarded-for': '203.0.113.1' } });
      expect(res.status).toBe(204);
    }
    expect((await post('/v1/quick-connect/redeem', {})).status).toBe(400);
  });

  it('groups IPv6 clients by /64', async () => {
    await start({ limits: { redeemPerIp: { perMinute: 1, burst: 1 } } });
    expect((await post('/v1/quick-connect/redeem', {}, { 'x-forwarded-for': '2001:db8:1:2::1' })).status).toBe(400);
    expect((await post('/v1/quick-connect/redeem', {}, { 'x-forwarded-for': '2001:db8:1:2:ffff::9' })).status).toBe(429);
    expect((await post('/v1/quick-connect/redeem', {}, { 'x-forwarded-for': '2001:db8:1:3::1' })).status).toBe(400);
  });
});

describe('/metrics token', () => {
  let relay: RelayServer | undefined;
  afterEach(async () => {
    await relay?.close();
    relay = undefined;
  });
  const get = (headers: Record<string, string> = {}) => fetch(`${relay!.url}/metrics`, { headers });

  it('is open without a token configured', async () => {
    relay = await startRelay({ port: 0 });
    expect((await get()).status).toBe(200);
  });

  it('needs Authorization: Bearer <token> when one is configured', async () => {
    const token = 'metrics-token-0123456789';
    relay = await startRelay({ port: 0, metricsToken: token });
    for (const authorization of [undefined, '', 'Bearer', `Bearer ${token}x`, `Bearer ${token.slice(0, -1)}`, `Basic ${token}`, `Bearer ${'a'.repeat(8000)}`, `Bearer ${token.toUpperCase()}`]) {
      const res = await get(authorization === undefined ? {} : { authorization });
      expect(res.status, String(authorization).slice(0, 40)).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    }
    const ok = await get({ authorization: `Bearer ${token}` });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('sbrp_relay_connections');
    expect((await fetch(`${relay.url}/healthz`)).status).toBe(200); // health stays open
  });
});
