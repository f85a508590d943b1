import { ed25519 } from '@noble/curves/ed25519.js';
import { ED25519_TORSION_SUBGROUP } from '@noble/curves/ed25519.js';
import { decodeProtectedHeader, decodeJwt } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { fromHex, toBase64Url } from '../../protocol/bytes.js';
import { FrameType } from '../../protocol/codes.js';
import { handshakeInitFrame } from '../../protocol/frames.js';
import { TestRelay } from '../testing/harness.js';
import type { RelayOptions } from '../options.js';
import { deviceTokenMessage } from './device-auth.js';

/**
 * Quick Connect, device tokens, revocation and key rotation through the HTTP API of an
 * in-process relay with a controllable clock (the real-process suite is pairing-process.test.ts).
 */

const ADMIN = 'admin-key-for-pairing-tests-0123';
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- bodies are checked field by field
type Json = any;

interface Device {
  deviceId: string;
  secret: Uint8Array;
  publicKey: string;
}

let relays: TestRelay[] = [];
afterEach(async () => {
  await Promise.all(relays.map((r) => r.close()));
  relays = [];
});

async function setup(options: RelayOptions = {}) {
  let clock = Date.now();
  const t = await TestRelay.start({ adminKey: ADMIN, quickConnect: true, now: () => clock, ...options });
  relays.push(t);
  const call = async (path: string, init: { method?: string; key?: string; body?: unknown } = {}) => {
    const headers: Record<string, string> = {};
    if (init.key) headers.authorization = `Bearer ${init.key}`;
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${t.relay.url}${path}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : undefined) as Json, headers: res.headers };
  };
  const onlineDaemon = async () => t.onlineDaemon();
  const code = async (apiKey: string, body: unknown = {}) => {
    const res = await call('/v1/quick-connect', { key: apiKey, body });
    expect(res.status).toBe(201);
    return res.json.code as string;
  };
  const pair = async (apiKey: string, label?: string): Promise<Device> => {
    const secret = ed25519.utils.randomSecretKey();
    const publicKey = toBase64Url(ed25519.getPublicKey(secret));
    const res = await call('/v1/quick-connect/redeem', { body: { code: await code(apiKey), devicePublicKey: publicKey, label } });
    expect(res.status).toBe(201);
    return { deviceId: res.json.deviceId, secret, publicKey };
  };
  const challenge = async (deviceId: string) => (await call('/v1/devices/challenge', { body: { deviceId } })).json.challenge as string;
  const sign = (d: Device, ch: string, deviceId = d.deviceId) => toBase64Url(ed25519.sign(deviceTokenMessage(ch, deviceId), d.secret));
  const token = async (d: Device) => {
    const ch = await challenge(d.deviceId);
    return call('/v1/tokens/device', { body: { deviceId: d.deviceId, challenge: ch, signature: sign(d, ch) } });
  };
  return { t, call, onlineDaemon, code, pair, challenge, sign, token, advance: (ms: number) => (clock += ms), now: () => clock };
}

const expectError = (res: { status: number; json: Json }, status: number, code: string): void => {
  expect({ status: res.status, code: res.json?.error?.code }).toEqual({ status, code });
  expect(res.json.error.message).toBeTypeOf('string');
};

describe('Quick Connect over HTTP', () => {
  it('is off unless enabled: both endpoints answer 403 quick_connect_disabled', async () => {
    const { t, call } = await setup({ quickConnect: false });
    const { apiKey } = await t.registerDaemon();
    expectError(await call('/v1/quick-connect', { key: apiKey, body: {} }), 403, 'quick_connect_disabled');
    expectError(await call('/v1/quick-connect', { body: {} }), 403, 'quick_connect_disabled');
    expectError(await call('/v1/quick-connect/redeem', { body: { code: 'x' } }), 403, 'quick_connect_disabled');
    // Device credentials still work for devices paired earlier: the switch is about pairing only.
    expectError(await call('/v1/devices/challenge', { body: { deviceId: `dev_${'0'.repeat(32)}` } }), 404, 'device_not_found');
  });

  it('creates codes with a bounded TTL and a link to the web app, for daemon keys only', async () => {
    const { t, call, now } = await setup({ webAppUrl: 'https://app.example/' });
    const { apiKey } = await t.registerDaemon();
    const res = await call('/v1/quick-connect', { key: apiKey, body: {} });
    expect(res.status).toBe(201);
    expect(res.json.code).toMatch(/^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){3}-[0-9A-HJKMNP-TV-Z]{6}$/);
    expect(res.json.expiresAt).toBe(Math.floor((now() + 300_000) / 1000));
    expect(res.json.link).toBe(`https://app.example/#pair=${res.json.code}`);
    expect((await call('/v1/quick-connect', { key: apiKey, body: { ttlSeconds: 30 } })).json.expiresAt).toBe(Math.floor((now() + 30_000) / 1000));
    for (const ttlSeconds of [0, 301, 1.5, '60', null, -1]) {
      expectError(await call('/v1/quick-connect', { key: apiKey, body: { ttlSeconds } }), 400, 'invalid_request');
    }
    expectError(await call('/v1/quick-connect', { key: ADMIN, body: {} }), 403, 'forbidden');
    expectError(await call('/v1/quick-connect', { body: {} }), 401, 'unauthorized');
  });

  it('redeems a typed code (any case, spaces) and answers what the client needs for the first pin', async () => {
    const { t, call, code } = await setup();
    const d = await t.onlineDaemon();
    const typed = (await code(d.apiKey)).toLowerCase().replace(/-/g, ' ');
    const publicKey = toBase64Url(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));
    const res = await call('/v1/quick-connect/redeem', { body: { code: typed, devicePublicKey: publicKey, label: 'Phone' } });
    expect(res.status).toBe(201);
    const info = await t.relay.controlPlane.getDaemon(d.daemonId);
    expect(res.json).toEqual({ daemonId: d.daemonId, relayUrl: t.relay.url, deviceId: expect.stringMatching(/^dev_[0-9a-f]{32}$/), daemonIdentityPublicKey: info!.identityPublicKey });
    expectError(await call('/v1/quick-connect/redeem', { body: { code: typed, devicePublicKey: publicKey } }), 404, 'code_not_found');
  });

  it('checks request syntax before consuming, so a malformed request does not burn the code', async () => {
    const { t, call, code } = await setup();
    const d = await t.onlineDaemon();
    const c = await code(d.apiKey);
    const good = toBase64Url(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));
    const smallOrder = toBase64Url(fromHex(ED25519_TORSION_SUBGROUP[1]!));
    const bad: unknown[] = [
      { code: c, devicePublicKey: 'AAAA' },
      { code: c, devicePublicKey: smallOrder },
      { code: c, devicePublicKey: `${good}=` },
      { code: c, devicePublicKey: good, label: 'evil\u001b[2J' },
      { code: c, devicePublicKey: good, label: 'gpj\u202e.exe' },
      { code: c, devicePublicKey: toBase64Url(new Uint8Array(32)) },
      { code: c, devicePublicKey: toBase64Url(fromHex(`ed${'ff'.repeat(30)}7f`)) /* y = p: non-canonical */ },
      { code: c, devicePublicKey: good, label: 'x'.repeat(129) },
      { code: 42, devicePublicKey: good },
      { code: 'ABCDE', devicePublicKey: good },
      { devicePublicKey: good },
    ];
    for (const body of bad) expectError(await call('/v1/quick-connect/redeem', { body }), 400, 'invalid_request');
    expect((await call('/v1/quick-connect/redeem', { body: { code: c, devicePublicKey: good } })).status).toBe(201);
  });

  it('answers 410 for an expired code (and keeps doing so), 404 for an unknown one', async () => {
    const { t, call, code, advance } = await setup();
    const d = await t.onlineDaemon();
    const c = await code(d.apiKey, { ttlSeconds: 10 });
    const body = { code: c, devicePublicKey: toBase64Url(ed25519.getPublicKey(ed25519.utils.randomSecretKey())) };
    advance(10_000);
    expectError(await call('/v1/quick-connect/redeem', { body }), 410, 'code_expired');
    expectError(await call('/v1/quick-connect/redeem', { body }), 410, 'code_expired');
    expectError(await call('/v1/quick-connect/redeem', { body: { ...body, code: '00000-00000-00000-00000-000000' } }), 404, 'code_not_found');
  });

  it('burns a code redeemed while its daemon is offline: 409 with "get a new code", then 409 again', async () => {
    const { t, call, code } = await setup();
    const { apiKey } = await t.registerDaemon();
    const body = { code: await code(apiKey), devicePublicKey: toBase64Url(ed25519.getPublicKey(ed25519.utils.randomSecretKey())) };
    const first = await call('/v1/quick-connect/redeem', { body });
    expectError(first, 409, 'daemon_offline');
    expect(first.json.error.message).toMatch(/new code/);
    expectError(await call('/v1/quick-connect/redeem', { body }), 409, 'daemon_offline');
  });

  it('limits code creation to 10 per minute per daemon with Retry-After', async () => {
    const { t, call, code, advance } = await setup();
    const a = await t.registerDaemon();
    const b = await t.registerDaemon();
    for (let i = 0; i < 10; i++) {
      await code(a.apiKey);
      advance(1000);
    }
    const over = await call('/v1/quick-connect', { key: a.apiKey, body: {} });
    expectError(over, 429, 'rate_limited');
    expect(over.headers.get('retry-after')).toBe('50');
    await code(b.apiKey); // per daemon
    advance(50_000);
    await code(a.apiKey);
  });

  it('limits unrevoked devices per daemon (too_many_devices); revoking one makes room', async () => {
    const { t, call, pair, code } = await setup({ limits: { maxDevicesPerDaemon: 2 } });
    const d = await t.onlineDaemon();
    const first = await pair(d.apiKey);
    await pair(d.apiKey);
    const body = { code: await code(d.apiKey), devicePublicKey: first.publicKey };
    const full = await call('/v1/quick-connect/redeem', { body });
    expectError(full, 409, 'too_many_devices');
    expect((await call(`/v1/devices/${first.deviceId}`, { method: 'DELETE', key: d.apiKey })).json).toEqual({ revoked: true });
    await pair(d.apiKey);
  });
});

describe('device session tokens', () => {
  it('trade a signed challenge for a 60 s token naming the paired daemon, with a new sid each time', async () => {
    const { t, call, pair, token, now } = await setup();
    const d = await t.onlineDaemon();
    const device = await pair(d.apiKey, 'laptop');
    const a = await token(device);
    const b = await token(device);
    expect(a.status).toBe(200);
    expect(a.json).toEqual({ token: expect.any(String), sid: expect.any(String), sessionId: expect.any(String), daemonId: d.daemonId, expiresAt: expect.any(Number) });
    const claims = decodeJwt(a.json.token);
    expect(claims).toMatchObject({ role: 'client', sub: `device:${device.deviceId}`, did: d.daemonId, sid: a.json.sid });
    expect(claims.exp! - claims.iat!).toBe(60);
    expect(b.json.sid).not.toBe(a.json.sid);
    const list = await call('/v1/devices', { key: d.apiKey });
    expect(list.json).toEqual({
      devices: [{ deviceId: device.deviceId, label: 'laptop', createdAt: Math.floor(now() / 1000), lastSeenAt: Math.floor(now() / 1000), revoked: false }],
    });

    // The token opens a session to that daemon: the client's first frame reaches the daemon.
    const client = await t.open(a.json.token, { viaQuery: true });
    client.send(handshakeInitFrame(BigInt(a.json.sessionId), new Uint8Array(32).fill(7)));
    const init = await d.peer.next((f) => f.type === FrameType.HandshakeInit);
    expect(init.sessionId).toBe(BigInt(a.json.sessionId));
  });

  it('refuse a wrong signature, a replayed or foreign challenge, and an expired one', async () => {
    const { t, call, pair, challenge, sign, advance } = await setup();
    const d = await t.onlineDaemon();
    const device = await pair(d.apiKey);
    const other = await pair(d.apiKey);
    const post = (body: unknown) => call('/v1/tokens/device', { body });

    let ch = await challenge(device.deviceId);
    expectError(await post({ deviceId: device.deviceId, challenge: ch, signature: sign(other, ch, device.deviceId) }), 401, 'invalid_signature');
    // Consumed by the failed attempt: the right signature on the same challenge no longer works.
    expectError(await post({ deviceId: device.deviceId, challenge: ch, signature: sign(device, ch) }), 401, 'challenge_not_found');

    ch = await challenge(device.deviceId);
    const good = { deviceId: device.deviceId, challenge: ch, signature: sign(device, ch) };
    expect((await post(good)).status).toBe(200);
    expectError(await post(good), 401, 'challenge_not_found'); // replay

    ch = await challenge(other.deviceId);
    expectError(await post({ deviceId: device.deviceId, challenge: ch, signature: sign(device, ch) }), 401, 'challenge_not_found');

    ch = await challenge(device.deviceId);
    advance(60_000);
    expectError(await post({ deviceId: device.deviceId, challenge: ch, signature: sign(device, ch) }), 401, 'challenge_not_found');

    ch = await challenge(device.deviceId);
    expectError(await post({ deviceId: device.deviceId, challenge: ch, signature: 'AAAA' }), 401, 'invalid_signature');
    expectError(await post({ deviceId: device.deviceId, challenge: 'short', signature: 'AAAA' }), 400, 'invalid_request');
    expectError(await post({ deviceId: 'dev_nope', challenge: ch, signature: 'AAAA' }), 400, 'invalid_request');
    expectError(await call('/v1/devices/challenge', { body: { deviceId: `dev_${'f'.repeat(32)}` } }), 404, 'device_not_found');
  });

  it('keep at most maxChallengesPerDevice outstanding challenges; the oldest is dropped', async () => {
    const { t, call, pair, challenge, sign } = await setup({ limits: { maxChallengesPerDevice: 2 } });
    const d = await t.onlineDaemon();
    const device = await pair(d.apiKey);
    const [c1, c2, c3] = [await challenge(device.deviceId), await challenge(device.deviceId), await challenge(device.deviceId)];
    const post = (ch: string) => call('/v1/tokens/device', { body: { deviceId: device.deviceId, challenge: ch, signature: sign(device, ch) } });
    expectError(await post(c1), 401, 'challenge_not_found');
    expect((await post(c2)).status).toBe(200);
    expect((await post(c3)).status).toBe(200);
  });
});

describe('device revocation', () => {
  it('closes the open session with forbidden, refuses tokens and upgrades, and is owner-only', async () => {
    const { t, call, pair, token, challenge, sign } = await setup();
    const d = await t.onlineDaemon();
    const other = await t.onlineDaemon();
    const device = await pair(d.apiKey);
    const keep = await pair(d.apiKey);
    const live = (await token(device)).json;
    const unused = (await token(device)).json; // issued before the revocation, never used
    const client = await t.open(live.token);
    const bystander = await t.open((await token(keep)).json.token);
    const pendingChallenge = await challenge(device.deviceId);

    expectError(await call(`/v1/devices/${device.deviceId}`, { method: 'DELETE', key: other.apiKey }), 404, 'device_not_found');
    expectError(await call(`/v1/devices/${device.deviceId}`, { method: 'DELETE', key: ADMIN }), 403, 'forbidden');
    expectError(await call('/v1/devices', { key: ADMIN }), 403, 'forbidden');
    const revoked = await call(`/v1/devices/${device.deviceId}`, { method: 'DELETE', key: d.apiKey });
    expect(revoked).toMatchObject({ status: 200, json: { revoked: true } });

    expect((await client.control('forbidden', 0n)).sessionId).toBe(0n);
    expect(await client.closedWithin()).toBe(1000);
    await d.peer.control('session_ended', BigInt(live.sessionId));
    expect(bystander.ws.readyState).toBe(bystander.ws.OPEN);

    expectError(await call('/v1/devices/challenge', { body: { deviceId: device.deviceId } }), 403, 'device_revoked');
    const late = { deviceId: device.deviceId, challenge: pendingChallenge, signature: sign(device, pendingChallenge) };
    expectError(await call('/v1/tokens/device', { body: late }), 403, 'device_revoked');
    const refused = await t.connect({ token: unused.token });
    expect(refused).toMatchObject({ ok: false, status: 403 });
    expect((await call(`/v1/devices/${device.deviceId}`, { method: 'DELETE', key: d.apiKey })).status).toBe(200); // idempotent
    expect((await call('/v1/devices', { key: d.apiKey })).json.devices.map((x: Json) => x.revoked)).toEqual([true, false]);
    expectError(await call('/v1/devices/%E0%A4%A', { method: 'DELETE', key: d.apiKey }), 404, 'device_not_found');
  });
});

describe('key rotation', () => {
  it('rotates a daemon API key: the old key stops at once; concurrent rotations have one winner', async () => {
    const { t, call } = await setup();
    const d = await t.registerDaemon();
    const other = await t.registerDaemon();
    expectError(await call(`/v1/daemons/${d.daemonId}/rotate-key`, { method: 'POST', key: other.apiKey }), 403, 'forbidden');
    const rotated = await call(`/v1/daemons/${d.daemonId}/rotate-key`, { method: 'POST', key: d.apiKey });
    expect(rotated.status).toBe(200);
    expect(rotated.json.apiKey).toMatch(new RegExp(`^sbk_${d.daemonId}_`));
    expectError(await call('/v1/tokens/presence', { method: 'POST', key: d.apiKey }), 401, 'unauthorized');
    expect((await call('/v1/tokens/presence', { method: 'POST', key: rotated.json.apiKey })).status).toBe(200);

    const both = await Promise.all([1, 2].map(() => call(`/v1/daemons/${d.daemonId}/rotate-key`, { method: 'POST', key: rotated.json.apiKey })));
    expect(both.filter((r) => r.status === 200)).toHaveLength(1);
    const loser = both.find((r) => r.status !== 200)!;
    expect(['key_conflict', 'unauthorized']).toContain(loser.json.error.code);
    // The admin key can rotate any daemon's key (the owner lost it).
    expect((await call(`/v1/daemons/${d.daemonId}/rotate-key`, { method: 'POST', key: ADMIN })).status).toBe(200);
    expectError(await call(`/v1/daemons/dmn_${'0'.repeat(24)}/rotate-key`, { method: 'POST', key: ADMIN }), 404, 'daemon_not_found');
  });

  it('rotates signing keys: two keys published during the overlap, then only the new one', async () => {
    const { t, call, advance } = await setup();
    const d = await t.registerDaemon();
    const before = (await call('/.well-known/jwks.json')).json.keys;
    expect(before).toHaveLength(1);
    const oldToken = (await call('/v1/tokens/presence', { method: 'POST', key: d.apiKey })).json.token;
    expectError(await call('/v1/admin/signing-keys/rotate', { method: 'POST', key: d.apiKey }), 403, 'forbidden');
    const rotated = await call('/v1/admin/signing-keys/rotate', { method: 'POST', key: ADMIN });
    expect(rotated.status).toBe(200);
    expect(rotated.json.previousKid).toBe(before[0].kid);
    expect((await call('/.well-known/jwks.json')).json.keys.map((k: Json) => k.kid)).toEqual([before[0].kid, rotated.json.kid]);
    const newToken = (await call('/v1/tokens/presence', { method: 'POST', key: d.apiKey })).json.token;
    expect(decodeProtectedHeader(newToken).kid).toBe(rotated.json.kid);
    const oldConn = await t.open(oldToken); // signed by the previous key, still inside the overlap
    oldConn.ws.close();

    advance(2 * 3600_000);
    expect((await call('/.well-known/jwks.json')).json.keys.map((k: Json) => k.kid)).toEqual([rotated.json.kid]);
    const again = await call('/v1/admin/signing-keys/rotate', { method: 'POST', key: ADMIN });
    const third = await call('/v1/admin/signing-keys/rotate', { method: 'POST', key: ADMIN });
    const kids = (await call('/.well-known/jwks.json')).json.keys.map((k: Json) => k.kid);
    expect(kids).toEqual([again.json.kid, third.json.kid]); // never more than two
  });
});
