/**
 * `sideband-fetch` with device credentials, end to end: a real relay with Quick Connect, a
 * daemon served by `listen()`, the CLI as a real process (pairing, then `--device` with no
 * key anywhere) and in-process for its exit codes: revocation, a code used twice, flags that
 * disagree with the record.
 */
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FETCH_EXIT } from '../client/fetch-cli.js';
import { DEVICE_KEY_FILE, DEVICE_RECORD_FILE } from '../client/fetch-cli-device.js';
import { FilePinStore } from '../client/pin-store.js';
import type { Listener } from '../daemon/listen-types.js';
import { listDevices, revokeDevice } from '../daemon/quick-connect.js';
import { fetchCli, fetchCliProcess } from './helpers/fetch-cli-run.js';
import { checkNoLeakedHandles } from './helpers/leak-check.js';
import type { RegisteredTestDaemon, RelayFixture } from './helpers/relay-fixture.js';
import { startPairingDaemon, type PairingDaemon } from './helpers/pairing-daemon.js';

const PAIRED = /^paired with daemon (\S+) as device (dev_\S+); daemon fingerprint (SHA256:[0-9A-F:]+)$/;

describe('e2e: sideband-fetch --pair and --device', () => {
  checkNoLeakedHandles(5_000);
  let stack: PairingDaemon;
  let fx: RelayFixture;
  let reg: RegisteredTestDaemon;
  let server: Listener;
  let pins: string;
  const code = (): Promise<string> => stack.code();

  beforeAll(async () => {
    stack = await startPairingDaemon((request) => Response.json({ path: new URL(request.url).pathname, auth: request.headers.get('authorization') }));
    ({ fx, reg, server } = stack);
    pins = join(fx.dir, 'pins.json');
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('pairs with a code, fetches with --device alone, and stops with device_revoked once revoked', async () => {
    const dir = join(fx.dir, 'laptop');
    const paired = await fetchCliProcess(['--pair', (await code()).toLowerCase(), '--relay', fx.relay.url, '--device', dir, '--label', 'e2e laptop', '--pins', pins]);
    expect(paired.code).toBe(0);
    expect(paired.stdout.length).toBe(0);
    const line = paired.stderr.trimEnd().split('\n');
    expect(line).toHaveLength(1);
    const [, daemonId, deviceId, fingerprint] = line[0]!.match(PAIRED)!;
    expect(daemonId).toBe(reg.daemonId);
    expect(fingerprint).toBe(server.fingerprint);
    for (const file of [DEVICE_RECORD_FILE, DEVICE_KEY_FILE]) expect((await stat(join(dir, file))).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(join(dir, DEVICE_RECORD_FILE), 'utf8'))).toMatchObject({ deviceId, daemonId, relayUrl: fx.relay.url });
    expect(await new FilePinStore(pins).get(reg.daemonId)).toEqual(reg.identity.publicKey);
    expect(await listDevices({ relay: fx.relay.url, apiKey: reg.apiKey })).toEqual([expect.objectContaining({ deviceId, label: 'e2e laptop', revoked: false })]);

    // No relay, daemon or key anywhere: the record and the device key are the whole credential.
    const hello = await fetchCliProcess(['--device', dir, '--pins', pins, '/api/hello']);
    expect(hello.stderr).toBe('');
    expect(hello.code).toBe(0);
    expect(JSON.parse(hello.stdout.toString())).toEqual({ path: '/api/hello', auth: null });
    // The env works as the flag does.
    expect(await fetchCliProcess(['/api/env'], { SIDEBAND_DEVICE: dir, SIDEBAND_PINS: pins })).toMatchObject({ code: 0 });

    await revokeDevice({ relay: fx.relay.url, apiKey: reg.apiKey, deviceId });
    const revoked = await fetchCli(['--device', dir, '--pins', pins, '/api/hello']);
    expect(revoked.code).toBe(FETCH_EXIT.noSession);
    expect(revoked.stdout).toBe('');
    const stderr = revoked.stderr.join('\n');
    expect(stderr).toMatch(/device_revoked/);
    expect(stderr).toMatch(/pair again: .*--pair CODE/);

    // Pairing again as told: the same directory and key, a new device id.
    const again = await fetchCli(['--pair', await code(), '--relay', fx.relay.url, '--device', dir, '--pins', pins, '/api/again']);
    expect(again.code).toBe(0);
    expect(again.stderr).toHaveLength(1);
    expect(again.stderr[0]).toMatch(PAIRED);
    expect(again.stderr[0]).not.toContain(deviceId);
    expect(JSON.parse(again.stdout)).toEqual({ path: '/api/again', auth: null });
  });

  it('a code works once: the second redeem exits 1 with code_not_found and saves nothing', async () => {
    const once = await code();
    const first = await fetchCli(['--pair', once, '--relay', fx.relay.url, '--device', join(fx.dir, 'first'), '--pins', pins, '/api/first']);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ path: '/api/first' });

    const secondDir = join(fx.dir, 'second');
    const second = await fetchCli(['--pair', once, '--relay', fx.relay.url, '--device', secondDir, '--pins', pins, '/api/second']);
    expect(second.code).toBe(FETCH_EXIT.noSession);
    expect(second.stdout).toBe('');
    expect(second.stderr[0]).toMatch(/^error: pairing failed: .*code_not_found/);
    expect(second.stderr[1]).toMatch(/new one/);
    await expect(stat(join(secondDir, DEVICE_RECORD_FILE))).rejects.toMatchObject({ code: 'ENOENT' });

    // A malformed code still goes to the relay, which judges it (and burns nothing).
    const malformed = await fetchCli(['--pair', 'not-a-code', '--relay', fx.relay.url, '--device', secondDir, '--pins', pins]);
    expect(malformed.code).toBe(FETCH_EXIT.noSession);
    expect(malformed.stderr[0]).toMatch(/invalid_request/);
  });

  it('exits 2 for a device directory that cannot work or flags that disagree with the record', async () => {
    const dir = join(fx.dir, 'checked');
    expect(await fetchCli(['--pair', await code(), '--relay', fx.relay.url, '--device', dir, '--pins', pins])).toMatchObject({ code: 0 });

    const empty = join(fx.dir, 'empty');
    await mkdir(empty);
    const none = await fetchCli(['--device', empty, '--pins', pins, '/x']);
    expect(none.code).toBe(FETCH_EXIT.usage);
    expect(none.stderr[0]).toMatch(/no paired device .* pair first: --pair CODE/);

    const relay = await fetchCli(['--device', dir, '--relay', 'http://127.0.0.1:1', '--pins', pins, '/x']);
    expect(relay.code).toBe(FETCH_EXIT.usage);
    expect(relay.stderr[0]).toMatch(/--relay .* differs from the relay this device was paired through/);
    // The same relay spelled with a trailing slash is the same relay.
    expect(await fetchCli(['--device', dir, '--relay', `${fx.relay.url}/`, '--daemon', reg.daemonId, '--pins', pins, '/x'])).toMatchObject({ code: 0 });
    const daemon = await fetchCli(['--device', dir, '--daemon', 'dmn_other', '--pins', pins, '/x']);
    expect(daemon.code).toBe(FETCH_EXIT.usage);
    expect(daemon.stderr[0]).toMatch(/--daemon dmn_other differs/);
    expect(await fetchCli(['--device', dir, '--api-key', reg.apiKey, '--pins', pins, '/x'])).toMatchObject({ code: FETCH_EXIT.usage });

    await rm(join(dir, DEVICE_KEY_FILE));
    const keyless = await fetchCli(['--device', dir, '--pins', pins, '/x']);
    expect(keyless.code).toBe(FETCH_EXIT.usage);
    expect(keyless.stderr[0]).toMatch(/device-key\.json is missing/);
  });
});
