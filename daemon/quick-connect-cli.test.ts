import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { toBase64Url } from '../protocol/bytes.js';
import { startRelay, type RelayServer } from '../relay/index.js';
import { loadDaemonConfig } from './daemon-config.js';
import { printDevices, printQuickConnect, printRevokeDevice, renderQr, rotateApiKeyAndSave } from './quick-connect-cli.js';

describe('daemon CLI pairing output', () => {
  let relay: RelayServer;
  let dir: string;
  let daemonId: string;
  let apiKey: string;
  let lines: string[];
  const out = (line: string): void => void lines.push(line);
  let ws: WebSocket | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sideband-qc-cli-'));
    relay = await startRelay({ port: 0, quickConnect: true, webAppUrl: 'http://localhost:5173' });
    ({ daemonId, apiKey } = await relay.controlPlane.registerDaemon({ identityPublicKey: toBase64Url(ed25519.getPublicKey(ed25519.utils.randomSecretKey())) }));
    lines = [];
  });
  afterEach(async () => {
    ws?.terminate();
    ws = undefined;
    await relay.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('prints the code, the link and the link as a terminal QR code', async () => {
    const created = await printQuickConnect({ relay: relay.url, apiKey, out });
    const text = lines.join('\n');
    expect(text).toContain('valid for 5 min');
    expect(text).toContain(`    ${created.code}`);
    expect(text).toContain(`    http://localhost:5173/#pair=${created.code}`);
    const qr = (await renderQr(created.link)).replace(/\n+$/, '');
    expect(text).toContain(qr);
    expect(qr.split('\n').length).toBeGreaterThan(10);
    lines = [];
    await printQuickConnect({ relay: relay.url, apiKey, ttlSeconds: 90, qr: false, out });
    expect(lines.join('\n')).toContain('valid for 1 min 30 s');
    expect(lines.join('\n')).not.toContain('▄');
  });

  it('lists devices as a table, revokes one, and says so', async () => {
    await printDevices({ relay: relay.url, apiKey, out });
    expect(lines).toEqual(['No paired devices. Pair one with a Quick Connect code.']);
    const { token } = await relay.controlPlane.issuePresenceToken(daemonId);
    ws = new WebSocket(relay.wsUrl, { headers: { authorization: `Bearer ${token}` } });
    await new Promise((resolve, reject) => ws!.once('open', resolve).once('error', reject));
    const { code } = await relay.controlPlane.pairing.createQuickConnect(daemonId);
    const { deviceId } = await relay.controlPlane.pairing.redeem({ code, devicePublicKey: toBase64Url(ed25519.getPublicKey(ed25519.utils.randomSecretKey())), label: 'Pixel 8' });
    lines = [];
    await printDevices({ relay: relay.url, apiKey, out });
    expect(lines[0]).toMatch(/^DEVICE ID\s+STATUS\s+PAIRED\s+LAST SEEN\s+LABEL$/);
    expect(lines[1]).toMatch(new RegExp(`^${deviceId}\\s+active\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\s+never\\s+Pixel 8$`));
    lines = [];
    await printRevokeDevice({ relay: relay.url, apiKey, deviceId, out });
    expect(lines[0]).toContain(`Revoked ${deviceId}`);
    lines = [];
    await printDevices({ relay: relay.url, apiKey, out });
    expect(lines[1]).toMatch(/\srevoked\s/);
  });

  it('rotates the API key and saves the new one 0600 before printing', async () => {
    const configPath = join(dir, 'identity.config.json');
    const config = await rotateApiKeyAndSave({ relay: relay.url, apiKey, daemonId, configPath, out });
    expect(config.apiKey).not.toBe(apiKey);
    expect(await loadDaemonConfig(configPath)).toEqual({ relay: relay.url, daemonId, apiKey: config.apiKey });
    expect((await stat(configPath)).mode & 0o777).toBe(0o600);
    expect(lines.join('\n')).not.toContain(config.apiKey); // the secret goes to the file, not the screen
    await expect(printDevices({ relay: relay.url, apiKey, out })).rejects.toMatchObject({ code: 'unauthorized' });
  });
});
