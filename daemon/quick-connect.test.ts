import { ed25519 } from '@noble/curves/ed25519.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { toBase64Url } from '../protocol/bytes.js';
import { ControlPlaneError } from '../web/errors.js';
import { startRelay, type RelayServer } from '../relay/index.js';
import { createQuickConnect, listDevices, revokeDevice, rotateApiKey } from './quick-connect.js';

/** The owner SDK against a real in-process relay: plain fetch, typed errors carrying the server code. */
describe('daemon Quick Connect and device SDK', () => {
  let relay: RelayServer;
  let daemonId: string;
  let apiKey: string;
  let ws: WebSocket | undefined;

  beforeEach(async () => {
    relay = await startRelay({ port: 0, quickConnect: true, webAppUrl: 'https://app.example' });
    ({ daemonId, apiKey } = await relay.controlPlane.registerDaemon({ identityPublicKey: toBase64Url(ed25519.getPublicKey(ed25519.utils.randomSecretKey())) }));
  });
  afterEach(async () => {
    ws?.terminate();
    ws = undefined;
    await relay.close();
  });

  async function online(): Promise<void> {
    const { token } = await relay.controlPlane.issuePresenceToken(daemonId);
    ws = new WebSocket(relay.wsUrl, { headers: { authorization: `Bearer ${token}` } });
    await new Promise((resolve, reject) => ws!.once('open', resolve).once('error', reject));
  }

  async function pairDevice(label: string): Promise<string> {
    const { code } = await createQuickConnect({ relay: relay.url, apiKey });
    const res = await fetch(`${relay.url}/v1/quick-connect/redeem`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code, devicePublicKey: toBase64Url(ed25519.getPublicKey(ed25519.utils.randomSecretKey())), label }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { deviceId: string }).deviceId;
  }

  it('creates a code with its expiry and web-app link', async () => {
    const before = Math.floor(Date.now() / 1000);
    const qc = await createQuickConnect({ relay: relay.url, apiKey, ttlSeconds: 90 });
    expect(qc.code).toMatch(/^[0-9A-Z]{5}(-[0-9A-Z]{5}){3}-[0-9A-Z]{6}$/);
    expect(qc.expiresAt - before).toBeGreaterThanOrEqual(89);
    expect(qc.expiresAt - before).toBeLessThanOrEqual(91);
    expect(qc.link).toBe(`https://app.example/#pair=${qc.code}`);
    await expect(createQuickConnect({ relay: relay.url, apiKey, ttlSeconds: 301 })).rejects.toMatchObject({ code: 'invalid_request', status: 400 });
    await expect(createQuickConnect({ relay: relay.url, apiKey: 'sbk_wrong' })).rejects.toMatchObject({ code: 'unauthorized', status: 401 });
  });

  it('surfaces the rate limit as rate_limited', async () => {
    for (let i = 0; i < 10; i++) await createQuickConnect({ relay: relay.url, apiKey });
    const error = await createQuickConnect({ relay: relay.url, apiKey }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ControlPlaneError);
    expect(error).toMatchObject({ code: 'rate_limited', status: 429 });
  });

  it('lists and revokes devices', async () => {
    await online();
    expect(await listDevices({ relay: relay.url, apiKey })).toEqual([]);
    const a = await pairDevice('phone');
    const b = await pairDevice('laptop');
    await revokeDevice({ relay: relay.url, apiKey, deviceId: a });
    const devices = await listDevices({ relay: relay.url, apiKey });
    expect(devices.map((d) => [d.deviceId, d.label, d.revoked, d.lastSeenAt])).toEqual([[a, 'phone', true, null], [b, 'laptop', false, null]]);
    expect(devices[0]!.createdAt).toBeTypeOf('number');
    await expect(revokeDevice({ relay: relay.url, apiKey, deviceId: 'dev_unknown' })).rejects.toMatchObject({ code: 'device_not_found', status: 404 });
  });

  it('rotates the API key: the old key stops working', async () => {
    const { apiKey: next } = await rotateApiKey({ relay: relay.url, apiKey, daemonId });
    expect(next).not.toBe(apiKey);
    await expect(listDevices({ relay: relay.url, apiKey })).rejects.toMatchObject({ code: 'unauthorized' });
    expect(await listDevices({ relay: relay.url, apiKey: next })).toEqual([]);
  });

  it('says quick_connect_disabled when the relay has Quick Connect off', async () => {
    const off = await startRelay({ port: 0 });
    try {
      const reg = await off.controlPlane.registerDaemon({ identityPublicKey: toBase64Url(ed25519.getPublicKey(ed25519.utils.randomSecretKey())) });
      await expect(createQuickConnect({ relay: off.url, apiKey: reg.apiKey })).rejects.toMatchObject({ code: 'quick_connect_disabled', status: 403 });
    } finally {
      await off.close();
    }
    await expect(createQuickConnect({ relay: 'http://127.0.0.1:1', apiKey, timeoutMs: 2000 })).rejects.toMatchObject({ code: 'network_error', status: 0 });
  });
});
