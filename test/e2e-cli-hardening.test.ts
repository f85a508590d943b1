/**
 * `sideband-fetch` hardening against a real relay and daemon: a paired device trusts the key it
 * paired with (never whatever a fresh pins file would accept), a failed --pair leaves nothing
 * behind, and the messages a user sees on first contact, on --timeout and with no relay.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64Url } from '../protocol/bytes.js';
import { fingerprint } from '../protocol/fingerprint.js';
import { FETCH_EXIT } from '../client/fetch-cli.js';
import { DEVICE_RECORD_FILE } from '../client/fetch-cli-device.js';
import { FilePinStore } from '../client/pin-store.js';
import { generateIdentity } from '../daemon/identity.js';
import type { Listener } from '../daemon/listen-types.js';
import { fetchCli } from './helpers/fetch-cli-run.js';
import { checkNoLeakedHandles } from './helpers/leak-check.js';
import type { RegisteredTestDaemon, RelayFixture } from './helpers/relay-fixture.js';
import { startPairingDaemon, type PairingDaemon } from './helpers/pairing-daemon.js';

describe('e2e: sideband-fetch hardening', () => {
  checkNoLeakedHandles(5_000);
  let stack: PairingDaemon;
  let fx: RelayFixture;
  let reg: RegisteredTestDaemon;
  let server: Listener;
  const code = (): Promise<string> => stack.code();

  beforeAll(async () => {
    stack = await startPairingDaemon(async (request) => {
      if (new URL(request.url).pathname === '/hang') await new Promise((resolve) => request.signal.addEventListener('abort', resolve));
      return Response.json({ ok: true });
    });
    ({ fx, reg, server } = stack);
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('--device verifies the daemon against the key recorded at pairing, even with a fresh pins file', async () => {
    const dir = join(fx.dir, 'laptop');
    expect(await fetchCli(['--pair', await code(), '--relay', fx.relay.url, '--device', dir, '--pins', join(fx.dir, 'pair-pins.json')])).toMatchObject({ code: 0 });
    // Fresh pins file and the genuine record: the record's key is pinned before the handshake.
    const fresh = join(fx.dir, 'fresh-pins.json');
    expect(await fetchCli(['--device', dir, '--pins', fresh, '/ok'])).toMatchObject({ code: 0, stderr: [] });
    expect(await new FilePinStore(fresh).get(reg.daemonId)).toEqual(reg.identity.publicKey);

    // The device was paired with another key than the daemon now offers.
    const other = generateIdentity().publicKey;
    const recordPath = join(dir, DEVICE_RECORD_FILE);
    const record = JSON.parse(await readFile(recordPath, 'utf8')) as Record<string, unknown>;
    await writeFile(recordPath, JSON.stringify({ ...record, daemonIdentityPublicKey: toBase64Url(other) }), { mode: 0o600 });
    const changed = await fetchCli(['--device', dir, '--pins', join(fx.dir, 'fresh-pins-2.json'), '/ok']);
    expect(changed.code).toBe(FETCH_EXIT.identityChanged);
    expect(changed.stdout).toBe('');
    const stderr = changed.stderr.join('\n');
    expect(stderr).toMatch(/identity_key_changed/);
    expect(stderr).toContain(`pinned   ${fingerprint(other)}`);
    expect(stderr).toContain(`offered  ${server.fingerprint}`);

    // A pins file that disagrees with the record stops the run before any connection.
    const disagree = await fetchCli(['--device', dir, '--pins', fresh, '/ok']);
    expect(disagree.code).toBe(FETCH_EXIT.identityChanged);
    expect(disagree.stderr.join('\n')).toContain(`pinned   ${server.fingerprint}`);
    expect(disagree.stderr.join('\n')).toContain(`paired   ${fingerprint(other)}`);
  });

  it('a failed --pair leaves no device directory and no staging directory behind', async () => {
    const parent = join(fx.dir, 'devices');
    const dir = join(parent, 'phone');
    const failed = await fetchCli(['--pair', 'AAAAA-AAAAA-AAAAA-AAAAA-AAAAAA', '--relay', fx.relay.url, '--device', dir, '--pins', join(fx.dir, 'p.json')]);
    expect(failed.code).toBe(FETCH_EXIT.noSession);
    expect(failed.stderr[0]).toMatch(/code_not_found/);
    expect(await readdir(parent)).toEqual([]);

    const paired = await fetchCli(['--pair', await code(), '--relay', fx.relay.url, '--device', dir, '--pins', join(fx.dir, 'p.json'), '/ok']);
    expect(paired.code).toBe(0);
    expect(await readdir(parent)).toEqual(['phone']);
    expect((await readdir(dir)).sort()).toEqual(['device-key.json', 'device.json']);
  });

  it('API-key mode prints the daemon fingerprint on first contact only', async () => {
    const pins = join(fx.dir, 'key-pins.json');
    const args = ['--relay', fx.relay.url, '--daemon', reg.daemonId, '--api-key', reg.apiKey, '--pins', pins, '/ok'];
    const first = await fetchCli(args);
    expect(first.code).toBe(0);
    expect(first.stderr).toEqual([expect.stringContaining(`first contact with daemon ${reg.daemonId}: pinned its identity key ${server.fingerprint}`)]);
    expect(await fetchCli(args)).toMatchObject({ code: 0, stderr: [] });
  });

  it('--timeout says how long it waited, not `cancel`', async () => {
    const pins = join(fx.dir, 'timeout-pins.json');
    const result = await fetchCli(['--relay', fx.relay.url, '--daemon', reg.daemonId, '--api-key', reg.apiKey, '--pins', pins, '--timeout', '0.5', '/hang']);
    expect(result.code).toBe(FETCH_EXIT.requestFailed);
    expect(result.stderr.at(-1)).toBe('error: timeout after 0.5 s');
  });

  it('an unreachable relay is named with the reason', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const relay = `http://127.0.0.1:${port}`;
    const result = await fetchCli(['--relay', relay, '--daemon', reg.daemonId, '--api-key', reg.apiKey, '--pins', join(fx.dir, 'x.json'), '/ok']);
    expect(result.code).toBe(FETCH_EXIT.noSession);
    expect(result.stderr).toEqual([`error: cannot reach the relay at ${relay}: ECONNREFUSED`]);
    const pair = await fetchCli(['--pair', 'AAAAA-AAAAA-AAAAA-AAAAA-AAAAAA', '--relay', relay, '--device', join(fx.dir, 'nowhere'), '--pins', join(fx.dir, 'x.json')]);
    expect(pair.code).toBe(FETCH_EXIT.noSession);
    expect(pair.stderr).toEqual([`error: pairing failed: cannot reach the relay at ${relay}: ECONNREFUSED`]);
  });
});
