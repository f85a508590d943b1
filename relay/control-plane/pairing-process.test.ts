import { request } from 'node:http';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import Database from 'better-sqlite3';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { toBase64Url } from '../../protocol/bytes.js';
import { FrameType } from '../../protocol/codes.js';
import { handshakeInitFrame } from '../../protocol/frames.js';
import { sleep, TestPeer } from '../testing/harness.js';
import { startRelayProcess, type RelayProcess } from '../testing/relay-process.js';
import { deviceTokenMessage } from './device-auth.js';
import { DATA_FILE_NAME } from './sqlite-store.js';

/**
 * The acceptance tests, against `tsx relay/cli.ts --data-dir … --quick-connect` as a
 * real child process with its SQLite file: pairing, tokens and connect; single-use and
 * concurrently redeemed codes; expiry; the creation rate limit; revocation reaching the data
 * plane; a restart and a crash between pairing and the next connect; stolen public data;
 * wrong and replayed signatures; API key rotation; bad bodies on every endpoint.
 */

const ADMIN = 'process-admin-key-0123456789abcdef';
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- bodies are checked field by field
type Json = any;
interface Answer { status: number; json: Json; headers: Headers }
interface Daemon { daemonId: string; apiKey: string; identityPublicKey: string }
interface Device { deviceId: string; daemonId: string; relayUrl: string; daemonIdentityPublicKey: string; secret: Uint8Array; publicKey: string }

describe('pairing against a real relay process with a SQLite file', () => {
  let dir: string;
  let relay: RelayProcess;
  const sockets = new Set<WebSocket>();

  const start = (port = 0) => startRelayProcess(['--port', String(port), '--data-dir', dir, '--quick-connect'], { SIDEBAND_ADMIN_KEY: ADMIN });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sideband-relay-process-'));
    relay = await start();
  });
  afterEach(() => {
    for (const ws of sockets) ws.terminate();
    sockets.clear();
  });
  afterAll(async () => {
    for (const ws of sockets) ws.terminate();
    await relay?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function call(path: string, init: { method?: string; key?: string; body?: unknown } = {}): Promise<Answer> {
    const headers: Record<string, string> = {};
    if (init.key) headers.authorization = `Bearer ${init.key}`;
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${relay.url}${path}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined, headers: res.headers };
  }

  const expectError = (res: Answer, status: number, code: string): void => {
    expect({ status: res.status, code: res.json?.error?.code }).toEqual({ status, code });
  };

  async function registerDaemon(): Promise<Daemon> {
    const identityPublicKey = toBase64Url(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));
    const res = await call('/v1/daemons', { key: ADMIN, body: { identityPublicKey } });
    expect(res.status).toBe(201);
    return { ...res.json, identityPublicKey };
  }

  /** A WebSocket wrapped in a frame-recording peer; rejects with the HTTP status of a refused upgrade. */
  function openSocket(url: string, headers: Record<string, string> = {}): Promise<TestPeer> {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false });
    sockets.add(ws);
    const peer = new TestPeer(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(peer));
      ws.once('unexpected-response', (req, res) => {
        req.destroy();
        reject(Object.assign(new Error(`upgrade refused with ${res.statusCode}`), { status: res.statusCode }));
      });
      ws.once('error', reject);
    });
  }

  /** The daemon's relay connection: a raw WebSocket with a presence token. */
  async function daemonOnline(daemon: Daemon): Promise<TestPeer> {
    const presence = await call('/v1/tokens/presence', { key: daemon.apiKey, body: {} });
    expect(presence.status).toBe(200);
    return openSocket(relay.wsUrl, { authorization: `Bearer ${presence.json.token}` });
  }

  async function quickConnect(daemon: Daemon, ttlSeconds?: number): Promise<string> {
    const res = await call('/v1/quick-connect', { key: daemon.apiKey, body: ttlSeconds === undefined ? {} : { ttlSeconds } });
    expect(res.status).toBe(201);
    return res.json.code;
  }

  function newDeviceKey(): { secret: Uint8Array; publicKey: string } {
    const secret = ed25519.utils.randomSecretKey();
    return { secret, publicKey: toBase64Url(ed25519.getPublicKey(secret)) };
  }

  async function pair(daemon: Daemon, label = 'test device'): Promise<Device> {
    const key = newDeviceKey();
    const res = await call('/v1/quick-connect/redeem', { body: { code: await quickConnect(daemon), devicePublicKey: key.publicKey, label } });
    expect(res.status).toBe(201);
    return { ...res.json, ...key };
  }

  const sign = (secret: Uint8Array, challenge: string, deviceId: string): string => toBase64Url(ed25519.sign(deviceTokenMessage(challenge, deviceId), secret));

  async function deviceToken(device: Device): Promise<Answer> {
    const ch = await call('/v1/devices/challenge', { body: { deviceId: device.deviceId } });
    if (ch.status !== 200) return ch;
    return call('/v1/tokens/device', { body: { deviceId: device.deviceId, challenge: ch.json.challenge, signature: sign(device.secret, ch.json.challenge, device.deviceId) } });
  }

  /** Connects as the device (token in the query, as a browser must) and checks its first frame reaches the daemon. */
  async function connectAndReach(device: Device, daemonPeer: TestPeer): Promise<TestPeer> {
    const issued = await deviceToken(device);
    expect(issued.status).toBe(200);
    const client = await openSocket(`${device.relayUrl.replace(/^http/, 'ws')}/v1/connect?token=${encodeURIComponent(issued.json.token)}`);
    const sessionId = BigInt(issued.json.sessionId);
    client.send(handshakeInitFrame(sessionId, new Uint8Array(32).fill(9)));
    const init = await daemonPeer.next((f) => f.type === FrameType.HandshakeInit && f.sessionId === sessionId, 5000, 'HandshakeInit');
    expect(init.payload).toEqual(new Uint8Array(32).fill(9));
    return client;
  }

  it('pairs with a code, gets a device token by signing a challenge, and connects to the daemon', async () => {
    const daemon = await registerDaemon();
    const daemonPeer = await daemonOnline(daemon);
    const created = await call('/v1/quick-connect', { key: daemon.apiKey, body: { ttlSeconds: 120 } });
    expect(created.status).toBe(201);
    expect(created.json.code).toMatch(/^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){3}-[0-9A-HJKMNP-TV-Z]{6}$/);
    expect(created.json.link).toBe(`${relay.url}/#pair=${created.json.code}`);
    const key = newDeviceKey();
    const redeemed = await call('/v1/quick-connect/redeem', { body: { code: created.json.code, devicePublicKey: key.publicKey, label: 'phone' } });
    expect(redeemed.status).toBe(201);
    expect(redeemed.json).toEqual({ daemonId: daemon.daemonId, relayUrl: relay.url, deviceId: expect.stringMatching(/^dev_/), daemonIdentityPublicKey: daemon.identityPublicKey });
    const device: Device = { ...redeemed.json, ...key };

    const token = await deviceToken(device);
    expect(token.status).toBe(200);
    const claims = decodeJwt(token.json.token);
    expect(claims).toMatchObject({ role: 'client', sub: `device:${device.deviceId}`, did: daemon.daemonId });
    expect(claims.exp! - claims.iat!).toBeLessThanOrEqual(120);
    await connectAndReach(device, daemonPeer);

    // The data directory and database hold private keys: owner-only.
    expect((await stat(dir)).mode & 0o077).toBe(0);
    expect((await stat(join(dir, DATA_FILE_NAME))).mode & 0o777).toBe(0o600);
  });

  it('accepts a code once: a second redeem gets 404, and of ten concurrent redeems exactly one wins', async () => {
    const daemon = await registerDaemon();
    await daemonOnline(daemon);
    const code = await quickConnect(daemon);
    expect((await call('/v1/quick-connect/redeem', { body: { code, devicePublicKey: newDeviceKey().publicKey } })).status).toBe(201);
    expectError(await call('/v1/quick-connect/redeem', { body: { code, devicePublicKey: newDeviceKey().publicKey } }), 404, 'code_not_found');

    const contested = await quickConnect(daemon);
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => call('/v1/quick-connect/redeem', { body: { code: contested, devicePublicKey: newDeviceKey().publicKey } })),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([201, ...Array(9).fill(404)]);
    expect((await call('/v1/devices', { key: daemon.apiKey })).json.devices).toHaveLength(2);
  });

  it('answers 410 for an expired code and 409 for a code burned while the daemon was offline', async () => {
    const daemon = await registerDaemon();
    const daemonPeer = await daemonOnline(daemon);
    const expiring = await quickConnect(daemon, 1);
    await sleep(1100);
    expectError(await call('/v1/quick-connect/redeem', { body: { code: expiring, devicePublicKey: newDeviceKey().publicKey } }), 410, 'code_expired');

    const code = await quickConnect(daemon);
    daemonPeer.ws.close();
    await daemonPeer.closedWithin();
    await sleep(50);
    const offline = await call('/v1/quick-connect/redeem', { body: { code, devicePublicKey: newDeviceKey().publicKey } });
    expectError(offline, 409, 'daemon_offline');
    expect(offline.json.error.message).toMatch(/get a new code/);
    await daemonOnline(daemon);
    expectError(await call('/v1/quick-connect/redeem', { body: { code, devicePublicKey: newDeviceKey().publicKey } }), 409, 'daemon_offline');
  });

  it('limits code creation to 10 per minute per daemon', async () => {
    const daemon = await registerDaemon();
    for (let i = 0; i < 10; i++) await quickConnect(daemon, 60);
    const over = await call('/v1/quick-connect', { key: daemon.apiKey, body: {} });
    expectError(over, 429, 'rate_limited');
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    await quickConnect(await registerDaemon()); // another daemon is unaffected
  });

  it('refuses a revoked device a token and closes its open session', async () => {
    const daemon = await registerDaemon();
    const daemonPeer = await daemonOnline(daemon);
    const device = await pair(daemon);
    const client = await connectAndReach(device, daemonPeer);
    const revoke = await call(`/v1/devices/${device.deviceId}`, { method: 'DELETE', key: daemon.apiKey });
    expect(revoke).toMatchObject({ status: 200, json: { revoked: true } });
    expect((await client.control('forbidden', 0n, 5000)).sessionId).toBe(0n);
    await client.closedWithin(5000);
    expectError(await deviceToken(device), 403, 'device_revoked');
    const list = await call('/v1/devices', { key: daemon.apiKey });
    expect(list.json.devices).toEqual([expect.objectContaining({ deviceId: device.deviceId, label: 'test device', revoked: true })]);
  });

  it('gives nothing to a thief holding a copy of the device record and public key', async () => {
    const daemon = await registerDaemon();
    await daemonOnline(daemon);
    const device = await pair(daemon);
    // Everything a device stores besides its private key (the record file, IndexedDB minus the non-extractable key).
    const stolen = { deviceId: device.deviceId, daemonId: device.daemonId, relayUrl: device.relayUrl, daemonIdentityPublicKey: device.daemonIdentityPublicKey, publicKey: device.publicKey };
    const thief = newDeviceKey();
    for (const signature of [
      (ch: string) => sign(thief.secret, ch, stolen.deviceId),
      () => stolen.publicKey,
      () => toBase64Url(new Uint8Array(64)),
    ]) {
      const ch = (await call('/v1/devices/challenge', { body: { deviceId: stolen.deviceId } })).json.challenge;
      expectError(await call('/v1/tokens/device', { body: { deviceId: stolen.deviceId, challenge: ch, signature: signature(ch) } }), 401, 'invalid_signature');
    }
    // No bearer path either: the record's ids are not keys.
    expectError(await call('/v1/tokens/session', { key: stolen.deviceId, body: { daemonId: stolen.daemonId } }), 401, 'unauthorized');
    expect((await deviceToken(device)).status).toBe(200); // the real device is unaffected
  });

  it('refuses a wrong or replayed challenge signature', async () => {
    const daemon = await registerDaemon();
    await daemonOnline(daemon);
    const device = await pair(daemon);
    const challenge = async () => (await call('/v1/devices/challenge', { body: { deviceId: device.deviceId } })).json.challenge as string;
    const post = (ch: string, signature: string) => call('/v1/tokens/device', { body: { deviceId: device.deviceId, challenge: ch, signature } });

    const c1 = await challenge();
    const c2 = await challenge();
    expectError(await post(c1, sign(device.secret, c2, device.deviceId)), 401, 'invalid_signature'); // signed the wrong challenge
    expectError(await post(c1, sign(device.secret, c1, device.deviceId)), 401, 'challenge_not_found'); // c1 was consumed by the failure
    expect((await post(c2, sign(device.secret, c2, device.deviceId))).status).toBe(200);
    expectError(await post(c2, sign(device.secret, c2, device.deviceId)), 401, 'challenge_not_found'); // replay
    const forged = `${'A'.repeat(43)}`;
    expectError(await post(forged, sign(device.secret, forged, device.deviceId)), 401, 'challenge_not_found'); // never issued
  });

  it('rotates a daemon API key: the old key stops working at once', async () => {
    const daemon = await registerDaemon();
    const rotated = await call(`/v1/daemons/${daemon.daemonId}/rotate-key`, { method: 'POST', key: daemon.apiKey });
    expect(rotated.status).toBe(200);
    expectError(await call('/v1/tokens/presence', { key: daemon.apiKey, body: {} }), 401, 'unauthorized');
    expectError(await call('/v1/quick-connect', { key: daemon.apiKey, body: {} }), 401, 'unauthorized');
    expect((await call('/v1/quick-connect', { key: rotated.json.apiKey, body: {} })).status).toBe(201);
    await daemonOnline({ ...daemon, apiKey: rotated.json.apiKey });
  });

  it('answers malformed JSON, oversize bodies and wrong content types on every endpoint with a 4xx and a stable code', async () => {
    const daemon = await registerDaemon();
    await daemonOnline(daemon);
    const device = await pair(daemon);
    const endpoints: [string, string, string?][] = [
      ['POST', '/v1/daemons', ADMIN],
      ['POST', '/v1/tokens/presence', daemon.apiKey],
      ['POST', '/v1/tokens/session', daemon.apiKey],
      ['GET', `/v1/daemons/${daemon.daemonId}`, daemon.apiKey],
      ['POST', `/v1/daemons/${daemon.daemonId}/rotate-key`, daemon.apiKey],
      ['POST', '/v1/quick-connect', daemon.apiKey],
      ['POST', '/v1/quick-connect/redeem'],
      ['POST', '/v1/devices/challenge'],
      ['POST', '/v1/tokens/device'],
      ['GET', '/v1/devices', daemon.apiKey],
      ['DELETE', `/v1/devices/${device.deviceId}`, daemon.apiKey],
      ['POST', '/v1/admin/signing-keys/rotate', ADMIN],
      ['GET', '/.well-known/jwks.json'],
    ];
    const cases: [string, Buffer, number, string][] = [
      ['application/json', Buffer.from('{"code":'), 400, 'invalid_json'],
      ['application/json', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), 400, 'invalid_json'], // not UTF-8
      ['application/json', Buffer.from('[1,2]'), 400, 'invalid_request'],
      ['application/json', Buffer.from(JSON.stringify({ pad: 'x'.repeat(17 * 1024) })), 413, 'payload_too_large'],
      ['text/plain', Buffer.from('{}'), 415, 'unsupported_media_type'],
      ['application/x-www-form-urlencoded', Buffer.from('code=1'), 415, 'unsupported_media_type'],
    ];
    for (const [method, path, key] of endpoints) {
      for (const [type, body, status, code] of cases) {
        const res = await raw(method, path, { 'content-type': type, ...(key ? { authorization: `Bearer ${key}` } : {}) }, body);
        expect({ endpoint: `${method} ${path}`, type, status: res.status, code: res.json?.error?.code }).toEqual({ endpoint: `${method} ${path}`, type, status, code });
      }
      const wrongMethod = await raw(method === 'GET' ? 'PUT' : 'GET', path, {}, Buffer.alloc(0));
      expect({ path, status: wrongMethod.status, code: wrongMethod.json.error.code }).toEqual({ path, status: 405, code: 'method_not_allowed' });
    }
    // None of those requests changed anything.
    expect((await deviceToken(device)).status).toBe(200);
    expect((await call('/v1/tokens/presence', { key: daemon.apiKey, body: {} })).status).toBe(200);
    expect((await call('/.well-known/jwks.json')).json.keys).toHaveLength(1);
  });

  it('loses nothing across a restart between pairing and the next connect', async () => {
    const daemon = await registerDaemon();
    await daemonOnline(daemon);
    const device = await pair(daemon);
    const revokedDevice = await pair(daemon);
    await call(`/v1/devices/${revokedDevice.deviceId}`, { method: 'DELETE', key: daemon.apiKey });
    const rotated = (await call(`/v1/daemons/${daemon.daemonId}/rotate-key`, { method: 'POST', key: daemon.apiKey })).json.apiKey as string;
    const presenceBefore = (await call('/v1/tokens/presence', { key: rotated, body: {} })).json.token as string;
    const signing = await call('/v1/admin/signing-keys/rotate', { method: 'POST', key: ADMIN });
    expect(signing.status).toBe(200);
    const jwksBefore = (await call('/.well-known/jwks.json')).json;
    expect(jwksBefore.keys).toHaveLength(2);

    for (const ws of sockets) ws.terminate();
    const { port } = relay;
    expect(await relay.stop()).toBe(0);
    relay = await start(port);

    expect((await call('/.well-known/jwks.json')).json).toEqual(jwksBefore);
    expectError(await call('/v1/tokens/presence', { key: daemon.apiKey, body: {} }), 401, 'unauthorized'); // still rotated
    // A presence token from before the restart still verifies: the signing keys were kept.
    expect(decodeProtectedHeader(presenceBefore).kid).toBe(signing.json.previousKid);
    const daemonPeer = await openSocket(relay.wsUrl, { authorization: `Bearer ${presenceBefore}` });
    await connectAndReach(device, daemonPeer);
    expectError(await deviceToken(revokedDevice), 403, 'device_revoked');
    const devices = (await call('/v1/devices', { key: rotated })).json.devices;
    expect(devices.map((d: Json) => [d.deviceId, d.revoked])).toEqual([[device.deviceId, false], [revokedDevice.deviceId, true]]);
  });

  it('keeps the database consistent when the relay is killed in the middle of writes', async () => {
    const daemon = await registerDaemon();
    await daemonOnline(daemon);
    const device = await pair(daemon);
    let stop = false;
    const acknowledged: string[] = [];
    let cutOff = 0;
    const register = async () => {
      try {
        const res = await call('/v1/daemons', { key: ADMIN, body: { identityPublicKey: toBase64Url(ed25519.getPublicKey(ed25519.utils.randomSecretKey())) } });
        if (res.status === 201) acknowledged.push(res.json.daemonId);
      } catch {
        cutOff++; // in flight when the process died
      }
    };
    const load = (async () => {
      const work: Promise<unknown>[] = [];
      for (let i = 0; !stop && i < 2000; i++) {
        work.push(deviceToken(device).catch(() => cutOff++));
        work.push(register());
        if (i % 10 === 9) await sleep(2);
      }
      await Promise.all(work);
    })();
    await sleep(300);
    for (const ws of sockets) ws.terminate();
    expect(await relay.stop('SIGKILL')).toBe(null);
    stop = true;
    await load;
    expect(acknowledged.length).toBeGreaterThan(0);
    expect(cutOff).toBeGreaterThan(0);

    const db = new Database(join(dir, DATA_FILE_NAME), { readonly: true, fileMustExist: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(db.pragma('foreign_key_check')).toEqual([]);
      // synchronous=FULL: every write the relay acknowledged is on disk.
      const stored = new Set((db.prepare('SELECT daemon_id FROM daemons').all() as { daemon_id: string }[]).map((r) => r.daemon_id));
      expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
    } finally {
      db.close();
    }
    relay = await start(relay.port);
    const daemonPeer = await daemonOnline(daemon);
    await connectAndReach(device, daemonPeer);
  });

  function raw(method: string, path: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; json: Json }> {
    return new Promise((resolve, reject) => {
      const req = request(`${relay.url}${path}`, { method, headers: { ...headers, 'content-length': String(body.length) } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }
});
