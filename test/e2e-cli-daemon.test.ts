/**
 * The daemon CLI's registration and key lifecycle against a real relay, in this process:
 * --register refuses to replace an existing registration without --force and says where the
 * key went; a running daemon follows a key rotated by --rotate-key from another shell (or stops
 * with a clear message when its key came from a flag); the Quick Connect QR code is drawn only
 * on a terminal.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryControlPlaneStore, startRelay, type RelayServer } from '../relay/index.js';
import { runDaemonCli, type CliIo } from '../daemon/cli.js';
import { configPathFor, loadDaemonConfig } from '../daemon/daemon-config.js';
import { checkNoLeakedHandles } from './helpers/leak-check.js';
import { waitFor } from './helpers/wait.js';

const ADMIN = 'e2e-admin-key-0123456789abcdef';

describe('e2e: daemon CLI registration and key rotation', () => {
  checkNoLeakedHandles(5_000);
  let dir: string;
  let relay: RelayServer;
  let store: MemoryControlPlaneStore;
  let lines: string[];

  /** One CLI run: its lines land in `lines`; `stop()` is SIGINT. */
  const run = (argv: string[], extra: Partial<CliIo> = {}) => {
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const exit = runDaemonCli(argv, {}, { out: (l) => lines.push(l), err: (l) => lines.push(l), stopped, ...extra });
    return { exit, stop };
  };
  const until = (pattern: RegExp) => waitFor(() => lines.some((l) => pattern.test(l)), `a line matching ${pattern}`, 15_000);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sideband-e2e-cli-'));
    store = new MemoryControlPlaneStore();
    relay = await startRelay({ port: 0, adminKey: ADMIN, store, quickConnect: true });
    lines = [];
  });
  afterEach(async () => {
    await relay.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('--register says where the key is saved and the next command; a second --register is refused without --force', async () => {
    const identity = join(dir, 'identity.json');
    const first = run(['--identity', identity, '--relay', relay.url, '--register', '--admin-key', ADMIN]);
    await until(/^connected to /);
    first.stop();
    expect(await first.exit).toBe(0);
    const config = await loadDaemonConfig(configPathFor(identity));
    expect(lines).toContain(`registered daemon ${config!.daemonId}; relay, daemon id and API key saved to ${configPathFor(identity)} (0600)`);
    expect(lines).toContain(`next time, start it with: npm run daemon -- --identity ${identity}`);

    lines = [];
    const again = run(['--identity', identity, '--relay', relay.url, '--register', '--admin-key', ADMIN]);
    expect(await again.exit).toBe(2);
    expect(lines.join('\n')).toMatch(new RegExp(`error: this identity is registered already as daemon ${config!.daemonId} .*add --force`));
    expect(await loadDaemonConfig(configPathFor(identity))).toEqual(config);

    lines = [];
    const forced = run(['--identity', identity, '--relay', relay.url, '--register', '--force', '--admin-key', ADMIN]);
    await until(/^connected to /);
    forced.stop();
    expect(await forced.exit).toBe(0);
    expect((await loadDaemonConfig(configPathFor(identity)))!.daemonId).not.toBe(config!.daemonId);
  });

  it('a running daemon follows a key rotated from another shell once the relay refuses the old one', async () => {
    const identity = join(dir, 'identity.json');
    const serving = run(['--identity', identity, '--relay', relay.url, '--register', '--admin-key', ADMIN]);
    await until(/^connected to /);
    expect(await run(['--identity', identity, '--rotate-key']).exit).toBe(0);

    // The open connection survives rotation; the next reconnect needs a new presence token.
    lines = [];
    const port = relay.port;
    await relay.close();
    await until(/^reconnecting/);
    relay = await startRelay({ port, adminKey: ADMIN, store, quickConnect: true });
    await until(/^connected to /);
    expect(lines).toContain(`the API key was rotated; using the new key from ${configPathFor(identity)}`);
    serving.stop();
    expect(await serving.exit).toBe(0);
  });

  it('a daemon whose --api-key was rotated stops with a message instead of retrying forever', async () => {
    const identity = join(dir, 'identity.json');
    const registering = run(['--identity', identity, '--relay', relay.url, '--register', '--admin-key', ADMIN]);
    await until(/^connected to /);
    registering.stop();
    await registering.exit;
    const { apiKey } = (await loadDaemonConfig(configPathFor(identity)))!;

    const serving = run(['--identity', identity, '--api-key', apiKey]);
    lines = [];
    await until(/^connected to /);
    expect(await run(['--identity', identity, '--rotate-key']).exit).toBe(0);
    const port = relay.port;
    await relay.close();
    relay = await startRelay({ port, adminKey: ADMIN, store, quickConnect: true });
    expect(await serving.exit).toBe(1);
    expect(lines.join('\n')).toMatch(/error: unauthorized: the relay no longer accepts this daemon's API key .*Restart with the new key/);
  });

  it('--quick-connect draws the QR code only on a terminal; a pipe gets the code and the link', async () => {
    const identity = join(dir, 'identity.json');
    const piped = run(['--identity', identity, '--relay', relay.url, '--register', '--admin-key', ADMIN, '--quick-connect']);
    await until(/#pair=/);
    piped.stop();
    expect(await piped.exit).toBe(0);
    expect(lines.join('\n')).not.toMatch(/[▄▀█]/);
    expect(lines.join('\n')).not.toContain('\u001b['); // no terminal escapes in a pipe

    lines = [];
    const tty = run(['--identity', identity, '--quick-connect'], { isTTY: true });
    await until(/#pair=/);
    await waitFor(() => lines.some((l) => /[▄▀█]/.test(l)), 'the QR code', 5_000);
    tty.stop();
    expect(await tty.exit).toBe(0);
    expect(await readdir(dir)).toEqual(['identity.config.json', 'identity.json']);
  });
});
