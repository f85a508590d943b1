import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { toBase64Url } from '../protocol/bytes.js';
import { IdentityKeyChangedError } from '../protocol/errors.js';
import { ControlPlaneError } from '../web/errors.js';
import { connectDaemon } from '../daemon/connect-daemon.js';
import type { DaemonConnection } from '../daemon/daemon-types.js';
import { generateIdentity, type DaemonIdentity } from '../daemon/identity.js';
import { createQuickConnect } from '../daemon/quick-connect.js';
import { startRelay, type RelayServer } from '../relay/index.js';
import { generateDeviceKey, loadOrCreateDeviceKey } from './device-key.js';
import { loadPairedDevice, redeemQuickConnect } from './pairing.js';
import { FilePinStore } from './pin-store.js';

describe('redeemQuickConnect (Node client pairing)', () => {
  let dir: string;
  let relay: RelayServer;
  let identity: DaemonIdentity;
  let daemonId: string;
  let apiKey: string;
  let daemon: DaemonConnection | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sideband-pairing-'));
    relay = await startRelay({ port: 0, quickConnect: true });
    identity = generateIdentity();
    ({ daemonId, apiKey } = await relay.controlPlane.registerDaemon({ identityPublicKey: toBase64Url(identity.publicKey) }));
    daemon = connectDaemon({ relay: relay.url, apiKey, identity });
    await daemon.ready();
  });
  afterEach(async () => {
    await daemon?.close();
    await relay.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('enrolls the device key, saves the record 0600 and pins the daemon identity', async () => {
    const { key } = await loadOrCreateDeviceKey(join(dir, 'device-key.json'));
    const { code } = await createQuickConnect({ relay: relay.url, apiKey });
    const recordPath = join(dir, 'device.json');
    const pinStore = new FilePinStore(join(dir, 'pins.json'));
    const device = await redeemQuickConnect({ relay: relay.url, code: code.toLowerCase(), deviceKey: key, label: 'ci runner', recordPath, pinStore });
    expect(device).toEqual({ deviceId: expect.stringMatching(/^dev_/), daemonId, relayUrl: relay.url, daemonIdentityPublicKey: toBase64Url(identity.publicKey) });
    expect((await stat(recordPath)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(recordPath, 'utf8'))).toEqual({ version: 1, ...device });
    expect(await loadPairedDevice(recordPath)).toEqual(device);
    expect(await pinStore.get(daemonId)).toEqual(identity.publicKey);
    // The record holds no secret: neither the seed nor anything bearer-like.
    expect(await readFile(recordPath, 'utf8')).not.toMatch(/seed|token|apiKey|sbk_/);
  });

  it('fails with the server code for a used, unknown or offline code, and when Quick Connect is off', async () => {
    const deviceKey = generateDeviceKey();
    const { code } = await createQuickConnect({ relay: relay.url, apiKey });
    await redeemQuickConnect({ relay: relay.url, code, deviceKey });
    await expect(redeemQuickConnect({ relay: relay.url, code, deviceKey })).rejects.toMatchObject({ name: 'ControlPlaneError', code: 'code_not_found', status: 404 });

    const next = await createQuickConnect({ relay: relay.url, apiKey });
    await daemon!.close();
    daemon = undefined;
    await new Promise((resolve) => setTimeout(resolve, 50));
    const offline = await redeemQuickConnect({ relay: relay.url, code: next.code, deviceKey }).catch((e: unknown) => e);
    expect(offline).toBeInstanceOf(ControlPlaneError);
    expect(offline).toMatchObject({ code: 'daemon_offline', status: 409 });

    const off = await startRelay({ port: 0 });
    try {
      await expect(redeemQuickConnect({ relay: off.url, code, deviceKey })).rejects.toMatchObject({ code: 'quick_connect_disabled', status: 403 });
    } finally {
      await off.close();
    }
    await expect(redeemQuickConnect({ relay: 'ftp://x', code, deviceKey })).rejects.toMatchObject({ code: 'invalid_config' });
  });

  it('refuses to replace a different pinned identity and saves nothing then', async () => {
    const pinStore = new FilePinStore(join(dir, 'pins.json'));
    await pinStore.pin(daemonId, generateIdentity().publicKey);
    const recordPath = join(dir, 'device.json');
    const { code } = await createQuickConnect({ relay: relay.url, apiKey });
    const error = await redeemQuickConnect({ relay: relay.url, code, deviceKey: generateDeviceKey(), recordPath, pinStore }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IdentityKeyChangedError);
    expect(await loadPairedDevice(recordPath)).toBeUndefined();
  });
});
