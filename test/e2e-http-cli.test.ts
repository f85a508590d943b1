/**
 * The two command-line tools as users run them: `daemon/cli.ts` (demo app, `--proxy`) as a
 * real child process, and `sideband-fetch` (client/fetch-cli.ts) both as a process and
 * in-process for its exit codes, against a real relay. Device pairing: e2e-http-cli-device.
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64Url } from '../protocol/bytes.js';
import { generateIdentity } from '../daemon/identity.js';
import { FETCH_EXIT } from '../client/fetch-cli.js';
import { spawnDaemonCli, type CliProcess } from './helpers/daemon-cli-process.js';
import { fetchCli, fetchCliProcess } from './helpers/fetch-cli-run.js';
import { checkNoLeakedHandles } from './helpers/leak-check.js';
import { ADMIN_KEY, startRelayFixture, type RelayFixture } from './helpers/relay-fixture.js';

describe('e2e: daemon CLI (demo app, --proxy) and sideband-fetch', () => {
  checkNoLeakedHandles(5_000);
  let fx: RelayFixture;
  let upstream: Server;
  let proxied: CliProcess;
  let demo: CliProcess;
  let proxiedId: string;
  let demoId: string;

  beforeAll(async () => {
    fx = await startRelayFixture();
    upstream = createServer((req, res) => {
      const url = new URL(req.url!, 'http://upstream');
      if (url.pathname === '/hello') {
        res.writeHead(200, { 'content-type': 'text/plain', 'x-from': 'upstream' }).end('hi from upstream\n');
      } else if (url.pathname === '/upload') {
        const hash = createHash('sha256');
        req.on('data', (chunk: Buffer) => hash.update(chunk));
        req.on('end', () => res.end(JSON.stringify({ sha256: hash.digest('hex') })));
      } else if (url.pathname === '/broken') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.write(Buffer.alloc(100_000));
        setTimeout(() => res.destroy(), 50); // the local server dies mid-body
      } else {
        res.writeHead(404).end('not here');
      }
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const common = ['--relay', fx.relay.url, '--register', '--admin-key', ADMIN_KEY];
    proxied = spawnDaemonCli([...common, '--identity', join(fx.dir, 'proxy-id.json'), '--proxy', origin]);
    demo = spawnDaemonCli([...common, '--identity', join(fx.dir, 'demo-id.json')]);
    proxiedId = (await proxied.waitForLine(/connected to .* as daemon (\S+)/, 30_000))[1]!;
    demoId = (await demo.waitForLine(/connected to .* as daemon (\S+)/, 30_000))[1]!;
  });

  afterAll(async () => {
    // SIGTERM: a graceful shutdown exits 0.
    const codes = await Promise.all([proxied?.stop(), demo?.stop()]);
    expect(codes).toEqual([0, 0]);
    upstream.closeAllConnections();
    await new Promise((resolve) => upstream.close(resolve));
    await fx.close();
  });

  const base = (daemonId: string) => ['--relay', fx.relay.url, '--daemon', daemonId, '--admin-key', ADMIN_KEY, '--pins', join(fx.dir, 'pins.json')];

  it('sideband-fetch, as a process, reaches a local server through the daemon CLI --proxy, both ways', async () => {
    expect(proxied.lines.join('\n')).toContain('mode: reverse proxy to http://127.0.0.1:');
    const hello = await fetchCliProcess([...base(proxiedId), '-i', '/hello']);
    expect(hello.code).toBe(0);
    const text = hello.stdout.toString();
    expect(text).toMatch(/^HTTP 200 OK\r\n/);
    expect(text).toContain('x-from: upstream\r\n');
    expect(text.endsWith('\r\n\r\nhi from upstream\n')).toBe(true);

    const file = join(fx.dir, 'upload.bin');
    const body = Buffer.alloc(3 * 1024 * 1024, 7);
    await writeFile(file, body);
    const upload = await fetchCliProcess([...base(proxiedId), '-d', `@${file}`, '-H', 'content-type: application/octet-stream', '/upload']);
    expect(upload.code).toBe(0);
    expect(JSON.parse(upload.stdout.toString())).toEqual({ sha256: createHash('sha256').update(body).digest('hex') });
  });

  it('the daemon CLI without --proxy serves the demo app (JSON, echo, SSE)', async () => {
    expect(demo.lines.join('\n')).toContain('mode: demo app');
    expect(await fetchCli([...base(demoId), '/api/hello?name=cli'])).toMatchObject({ code: 0, stdout: '{"hello":"cli"}' });
    expect(await fetchCli([...base(demoId), '-d', 'round trip', '/api/echo'])).toMatchObject({ code: 0, stdout: 'round trip' });
    expect(await fetchCli([...base(demoId), '-d', '@-', '/api/echo'], ['from ', 'stdin'])).toMatchObject({ code: 0, stdout: 'from stdin' });
    const clock = await fetchCli([...base(demoId), '/api/clock?n=2']);
    expect(clock.code).toBe(0);
    expect(clock.stdout.match(/event: tick/g)).toHaveLength(2);
  });

  it('sideband-fetch exit codes: 22 with --fail, 3 for a body that fails mid-way, 2 for bad flags', async () => {
    const missing = await fetchCli([...base(proxiedId), '-f', '/nope']);
    expect(missing.code).toBe(FETCH_EXIT.httpError);
    expect(missing.stdout).toBe('');
    expect(await fetchCli([...base(proxiedId), '/nope'])).toMatchObject({ code: 0, stdout: 'not here' });
    const broken = await fetchCli([...base(proxiedId), '/broken']);
    expect(broken.code).toBe(FETCH_EXIT.requestFailed);
    expect(broken.stderr.join('\n')).toMatch(/error: internal/);
    expect(broken.stdout.length).toBeLessThan(200_000);
    const usage = await fetchCli(['--relay', fx.relay.url, '/x']);
    expect(usage.code).toBe(FETCH_EXIT.usage);
    expect(usage.stderr[0]).toMatch(/--daemon/);
  });

  it('sideband-fetch exit codes: 1 when no session can open, 4 when the daemon key differs from the pin', async () => {
    const unknown = await fetchCli(['--relay', fx.relay.url, '--daemon', 'no-such-daemon', '--admin-key', ADMIN_KEY, '--pins', join(fx.dir, 'pins.json'), '/x']);
    expect(unknown.code).toBe(FETCH_EXIT.noSession);
    expect(unknown.stderr.join('\n')).toMatch(/daemon_not_found/);

    const pins = join(fx.dir, 'wrong-pins.json');
    await writeFile(pins, JSON.stringify({ version: 1, pins: { [demoId]: toBase64Url(generateIdentity().publicKey) } }), { mode: 0o600 });
    const changed = await fetchCli(['--relay', fx.relay.url, '--daemon', demoId, '--admin-key', ADMIN_KEY, '--pins', pins, '/api/hello']);
    expect(changed.code).toBe(FETCH_EXIT.identityChanged);
    expect(changed.stderr.join('\n')).toMatch(/identity_key_changed[\s\S]*pinned +SHA256:[\s\S]*offered +SHA256:/);
  });
});
