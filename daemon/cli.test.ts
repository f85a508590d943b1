import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runDaemonCli } from './cli.js';
import { loadOrCreateIdentity } from './identity.js';

describe('daemon CLI', () => {
  let dir: string;
  let out: string[];
  let err: string[];
  const io = () => ({ out: (l: string) => out.push(l), err: (l: string) => err.push(l), stopped: new Promise<void>(() => {}) });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sideband-cli-'));
    out = [];
    err = [];
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('--help prints usage and exits 0', async () => {
    expect(await runDaemonCli(['--help'], {}, io())).toBe(0);
    expect(out.join('\n')).toMatch(/Usage: tsx daemon\/cli\.ts/);
  });

  it('bad flags exit 2 with a clear message', async () => {
    expect(await runDaemonCli(['--relay'], {}, io())).toBe(2);
    expect(err[0]).toBe('error: --relay needs a value');
  });

  it('--proxy with a bad target, or with --echo, exits 2 before touching anything', async () => {
    expect(await runDaemonCli(['--proxy', 'http://127.0.0.1:3000/app'], {}, io())).toBe(2);
    expect(err[0]).toBe('error: --proxy must be an origin only (no path, query or fragment)');
    expect(await runDaemonCli(['--proxy', 'http://127.0.0.1:3000', '--echo'], {}, io())).toBe(2);
    expect(err.join('\n')).toMatch(/exclude each other/);
    expect(out).toEqual([]);
  });

  it('--help documents the serving modes', async () => {
    expect(await runDaemonCli(['--help'], {}, io())).toBe(0);
    expect(out.join('\n')).toMatch(/--proxy URL[\s\S]*demo app/);
  });

  it('without a relay or key it prints the fingerprint, then exits 2', async () => {
    const identity = join(dir, 'identity.json');
    expect(await runDaemonCli(['--identity', identity], {}, io())).toBe(2);
    expect(out.join('\n')).toMatch(/fingerprint SHA256:[0-9A-F:]{95}/);
    expect(err.join('\n')).toMatch(/no relay/);
  });

  it('an insecure identity file exits 1 with its stable code', async () => {
    const identity = join(dir, 'identity.json');
    await loadOrCreateIdentity(identity);
    await chmod(identity, 0o644);
    expect(await runDaemonCli(['--identity', identity, '--relay', 'http://127.0.0.1:9', '--api-key', 'k'], {}, io())).toBe(1);
    expect(err.join('\n')).toMatch(/^error: file_insecure: .*chmod 600/m);
  });
});
