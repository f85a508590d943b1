import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { decodeJwt } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fromBase64Url, toBase64Url } from '../protocol/bytes.js';
import { errorCode } from '../web/errors.js';
import { connectDaemon } from '../daemon/connect-daemon.js';
import type { DaemonConnection } from '../daemon/daemon-types.js';
import { generateIdentity } from '../daemon/identity.js';
import { createQuickConnect, revokeDevice } from '../daemon/quick-connect.js';
import { deviceTokenMessage as relayMessage } from '../relay/control-plane/device-auth.js';
import { startRelay, type RelayServer } from '../relay/index.js';
import { connectClient } from './connect-client.js';
import type { RelayClient } from '../web/client-types.js';
import { generateDeviceKey, type DeviceKey } from './device-key.js';
import { deviceTokenMessage, deviceTokenSource } from './device-token-source.js';
import { redeemQuickConnect, type PairedDevice } from './pairing.js';
import { FilePinStore } from './pin-store.js';

describe('deviceTokenSource', () => {
  let dir: string;
  let relay: RelayServer;
  let daemon: DaemonConnection;
  let apiKey: string;
  let device: PairedDevice;
  let deviceKey: DeviceKey;
  const clients: RelayClient[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sideband-device-token-'));
    relay = await startRelay({ port: 0, quickConnect: true });
    const identity = generateIdentity();
    ({ apiKey } = await relay.controlPlane.registerDaemon({ identityPublicKey: toBase64Url(identity.publicKey) }));
    daemon = connectDaemon({ relay: relay.url, apiKey, identity, onMessage: (sid, data) => daemon.send(sid, data) });
    await daemon.ready();
    deviceKey = generateDeviceKey();
    device = await redeemQuickConnect({ relay: relay.url, code: (await createQuickConnect({ relay: relay.url, apiKey })).code, deviceKey });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await daemon.close();
    await relay.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('signs the same bytes the control plane verifies', () => {
    expect(deviceTokenMessage('abc', 'dev_1')).toEqual(relayMessage('abc', 'dev_1'));
    expect(new TextDecoder().decode(deviceTokenMessage('abc', 'dev_1'))).toBe('sideband-device-token-v1\nabc\ndev_1');
  });

  it('gets a fresh short-lived token per call that opens an end-to-end session with the paired daemon', async () => {
    const getToken = deviceTokenSource(device, deviceKey);
    const a = await getToken();
    const b = await getToken();
    expect(a.sid).not.toBe(b.sid);
    expect(a.daemonId).toBe(device.daemonId);
    const claims = decodeJwt(a.token);
    expect(claims).toMatchObject({ sub: `device:${device.deviceId}`, did: device.daemonId });
    expect(claims.exp! - claims.iat!).toBeLessThanOrEqual(120);

    const client = connectClient({ relay: device.relayUrl, daemonId: device.daemonId, getToken, pinStore: new FilePinStore(join(dir, 'pins.json')) });
    clients.push(client);
    await client.ready();
    const echoed = new Promise<string>((resolve) => client.onMessage((data) => resolve(new TextDecoder().decode(data))));
    client.send(new TextEncoder().encode('over a device token'));
    expect(await echoed).toBe('over a device token');
  });

  it('stops a revoked device: its session closes with forbidden and the next token request fails with device_revoked', async () => {
    const getToken = deviceTokenSource(device, deviceKey);
    const client = connectClient({ relay: device.relayUrl, daemonId: device.daemonId, getToken, pinStore: new FilePinStore(join(dir, 'pins.json')) });
    clients.push(client);
    await client.ready();
    const closed = new Promise<unknown>((resolve) => client.on('closed', ({ error }) => resolve(error)));
    await revokeDevice({ relay: relay.url, apiKey, deviceId: device.deviceId });
    expect(errorCode(await closed)).toBe('forbidden');
    await expect(getToken()).rejects.toMatchObject({ name: 'ControlPlaneError', code: 'device_revoked', status: 403 });
  });

  it('cannot get a token with another key, even holding the whole device record', async () => {
    await expect(deviceTokenSource(device, generateDeviceKey())()).rejects.toMatchObject({ code: 'invalid_signature', status: 401 });
    const impostor: DeviceKey = { publicKey: fromBase64Url(deviceKey.publicKeyBase64url), publicKeyBase64url: deviceKey.publicKeyBase64url, sign: (m) => ed25519.sign(m, ed25519.utils.randomSecretKey()) };
    await expect(deviceTokenSource(device, impostor)()).rejects.toMatchObject({ code: 'invalid_signature' });
    await expect(deviceTokenSource({ ...device, deviceId: `dev_${'0'.repeat(32)}` }, deviceKey)()).rejects.toMatchObject({ code: 'device_not_found', status: 404 });
    const aborted = new AbortController();
    aborted.abort();
    await expect(deviceTokenSource(device, deviceKey)(aborted.signal)).rejects.toMatchObject({ code: 'aborted' });
  });
});
