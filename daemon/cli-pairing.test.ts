/**
 * The daemon CLI's pairing and owner commands against a real relay (in this process, port 0):
 * register, serve with --quick-connect (a code is printed once connected and a Node device
 * redeems it), list devices, revoke, rotate the API key.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startRelay, type RelayServer } from '../relay/index.js';
import { runDaemonCli } from './cli.js';
import { parseDaemonArgs } from './cli-args.js';
import { loadDaemonConfig, configPathFor } from './daemon-config.js';
import { loadOrCreateDeviceKey } from '../client/device-key.js';
import { redeemQuickConnect } from '../client/pairing.js';
import { MemoryPinStore } from '../client/pin-store.js';

async function waitFor(check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('daemon CLI: pairing and owner commands', () => {
  let dir: string;
  let relay: RelayServer;
  let out: string[];
  let err: string[];
  let stop: () => void;
  const io = () => {
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    return { out: (l: string) => out.push(l), err: (l: string) => err.push(l), stopped };
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sideband-cli-pair-'));
    relay = await startRelay({ port: 0, quickConnect: true });
    out = [];
    err = [];
  });
  afterEach(async () => {
    await relay.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('prints a code once connected; a device redeems it; the owner lists, revokes and rotates', async () => {
    const identity = join(dir, 'identity.json');
    const serving = runDaemonCli(['--identity', identity, '--relay', relay.url, '--register', '--admin-key', relay.adminKey, '--quick-connect'], {}, io());
    await waitFor(() => out.some((l) => /^\s+[0-9A-Z]{5}(-[0-9A-Z]{5,6}){4}$/.test(l)));
    const code = out.find((l) => /^\s+[0-9A-Z]{5}-/.test(l))!.trim();
    expect(out.join('\n')).toMatch(/#pair=/);

    const { key } = await loadOrCreateDeviceKey(join(dir, 'device-key.json'));
    const device = await redeemQuickConnect({ relay: relay.url, code, deviceKey: key, label: 'laptop', recordPath: join(dir, 'device.json'), pinStore: new MemoryPinStore() });
    stop();
    expect(await serving).toBe(0);

    out = [];
    expect(await runDaemonCli(['--identity', identity, '--list-devices'], {}, io())).toBe(0);
    expect(out.join('\n')).toContain(device.deviceId);
    expect(out.join('\n')).toContain('laptop');

    out = [];
    expect(await runDaemonCli(['--identity', identity, '--revoke-device', device.deviceId], {}, io())).toBe(0);
    out = [];
    expect(await runDaemonCli(['--identity', identity, '--list-devices'], {}, io())).toBe(0);
    expect(out.join('\n')).toMatch(/revoked/);

    const before = await loadDaemonConfig(configPathFor(identity));
    expect(await runDaemonCli(['--identity', identity, '--rotate-key'], {}, io())).toBe(0);
    const after = await loadDaemonConfig(configPathFor(identity));
    expect(after!.apiKey).not.toBe(before!.apiKey);
    // The old key no longer works; the saved new one does.
    expect(await runDaemonCli(['--identity', identity, '--list-devices', '--api-key', before!.apiKey], {}, io())).toBe(1);
    expect(err.join('\n')).toMatch(/unauthorized/);
    expect(await runDaemonCli(['--identity', identity, '--list-devices'], {}, io())).toBe(0);
  });

  it('rejects owner commands that are combined or malformed', () => {
    for (const argv of [
      ['--list-devices', '--rotate-key'],
      ['--revoke-device', 'a b'],
      ['--revoke-device', '../../etc'],
      ['--list-devices', '--echo'],
      ['--rotate-key', '--quick-connect'],
      ['--quick-connect', '--echo'],
      ['--revoke-device'],
      ['--list-devices=yes'],
    ]) {
      const parsed = parseDaemonArgs(argv, {});
      expect(parsed.ok, argv.join(' ')).toBe(false);
    }
  });
});
