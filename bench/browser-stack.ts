/**
 * What the browser benchmark runs against: the real worker, page library and demo built with
 * scripts/build-web.ts into a directory of this run, plus bench.html and the AEAD bundle; a
 * node:http server of this process for the page's origin that serves those files AND the plain
 * baseline routes (/plain/small, /plain/bytes, /plain/upload); the relay, the daemon, the bare
 * `ws` forwarder and its echo daemon as child processes (browser-child.ts); headless Debian
 * Chromium through playwright-core.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { build } from 'vite';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { buildWeb } from '../scripts/build-web.js';
import { ControlPlaneClient } from '../node/control-plane-client.js';
import { createQuickConnect } from '../daemon/quick-connect.js';
import { generateIdentity } from '../daemon/identity.js';
import { toBase64Url, toHex } from '../protocol/bytes.js';
import { BENCH_PAGE } from './browser-page.js';
import { DOWNLOAD_CHUNK, SMALL_BODY } from './browser-child.js';
import { RELAY_NODE_FLAGS } from '../relay/node-flags.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const CHROMIUM = process.env.SIDEBAND_CHROMIUM ?? '/usr/bin/chromium';

export interface BenchStack {
  webUrl: string;
  relayUrl: string;
  wsForwarderUrl: string;
  /** The daemon's registration (for a Node client against the same relay and daemon). */
  daemonId: string;
  apiKey: string;
  browser: Browser;
  context: BrowserContext;
  /** bench.html on the web origin. */
  pageUrl: string;
  /** Opens bench.html in a new tab and waits for window.sideband. */
  openTab(): Promise<Page>;
  /** Pairs the context's worker through `page` and waits for `active`. */
  pair(page: Page): Promise<void>;
  close(): Promise<void>;
}

/** Builds the web root: the product's build plus bench.html and bench-aead.js. */
async function buildRoot(options: StackOptions): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'sideband-bench-web-'));
  await buildWeb(root);
  if (options.minify === false) {
    // The profiler (browser-profile.ts) wants real function names: the worker again, unminified.
    await build({
      configFile: false,
      logLevel: 'warn',
      define: { 'process.env.NODE_ENV': JSON.stringify('production') },
      build: { outDir: root, emptyOutDir: false, target: 'es2022', minify: false, lib: { entry: resolve(here, '../sw/sw.ts'), formats: ['iife'], name: 'sidebandWorker', fileName: () => 'sideband-sw.js' } },
    });
  }
  await build({
    configFile: false,
    logLevel: 'warn',
    build: {
      outDir: root,
      emptyOutDir: false,
      target: 'es2022',
      lib: { entry: resolve(here, 'browser-aead-entry.ts'), formats: ['iife'], name: 'sbrpBenchAead', fileName: () => 'bench-aead.js' },
    },
  });
  await writeFile(join(root, 'bench.html'), BENCH_PAGE);
  return root;
}

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.map': 'application/json' };

/** The page origin: static files of `root` and the plain baseline routes, on 127.0.0.1 (a secure context). */
async function startWeb(root: string): Promise<{ url: string; server: Server }> {
  const chunk = new Uint8Array(DOWNLOAD_CHUNK).map((_, i) => (i * 31) & 0xff);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://web.invalid');
    if (url.pathname === '/plain/small') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': SMALL_BODY.length, 'cache-control': 'no-store' });
      return res.end(SMALL_BODY);
    }
    if (url.pathname === '/plain/bytes') {
      const size = Number(url.searchParams.get('size'));
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size, 'cache-control': 'no-store' });
      let sent = 0;
      const more = () => {
        while (sent < size) {
          const n = Math.min(chunk.length, size - sent);
          sent += n;
          if (!res.write(chunk.subarray(0, n))) return void res.once('drain', more);
        }
        res.end();
      };
      return more();
    }
    if (url.pathname === '/plain/upload') {
      let bytes = 0;
      req.on('data', (data: Buffer) => (bytes += data.length));
      req.on('end', () => {
        const body = JSON.stringify({ bytes });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
        res.end(body);
      });
      return;
    }
    req.resume();
    const file = resolve(root, `.${decodeURIComponent(url.pathname)}`);
    if (!file.startsWith(root + sep)) return void res.writeHead(400).end();
    stat(file).then(
      (info) => {
        if (!info.isFile()) return void res.writeHead(404).end();
        const headers: Record<string, string | number> = { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': info.size, 'cache-control': 'no-cache' };
        if (url.pathname === '/sideband-sw.js') headers['service-worker-allowed'] = '/';
        res.writeHead(200, headers);
        createReadStream(file).pipe(res);
      },
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

interface Child {
  process: ChildProcess;
  info: Record<string, string>;
}

/** Starts a browser-child.ts role; resolves with its ready line. */
function startChild(role: string, config: Record<string, string>): Promise<Child> {
  // The relay as `npm run relay` starts it (relay/node-flags.ts); the others with Node's defaults.
  const flags = role === 'relay' ? RELAY_NODE_FLAGS : [];
  const child = spawn(process.execPath, [...flags, '--import', 'tsx', resolve(here, 'browser-child.ts'), role], {
    env: { ...process.env, BENCH_CHILD_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr!.on('data', (data: Buffer) => {
    if (process.env.SIDEBAND_BENCH_LOG) process.stderr.write(`[${role}] ${data.toString()}`);
  });
  return new Promise((resolveChild, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // not left running behind a failed start
      reject(new Error(`${role} did not start within 30 s`));
    }, 30_000);
    child.once('exit', (code) => reject(new Error(`${role} exited with ${code} before it was ready`)));
    lines.on('line', (line) => {
      if (!line.startsWith('{')) return;
      clearTimeout(timer);
      resolveChild({ process: child, info: JSON.parse(line) as Record<string, string> });
    });
  });
}

async function stopChild(child: Child | undefined): Promise<void> {
  if (!child || child.process.exitCode !== null) return;
  const exited = new Promise<void>((done) => child.process.once('exit', () => done()));
  child.process.kill('SIGTERM');
  const timer = setTimeout(() => child.process.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

export interface StackOptions {
  /** false: the worker unminified, for profiles with function names (default: the product build). */
  minify?: boolean;
}

export async function startBenchStack(options: StackOptions = {}): Promise<BenchStack> {
  const root = await buildRoot(options);
  const web = await startWeb(root);
  const dataDir = await mkdtemp(join(tmpdir(), 'sideband-bench-relay-'));
  const adminKey = randomBytes(24).toString('base64url');
  const children: Child[] = [];
  let browser: Browser | undefined;
  const close = async () => {
    await browser?.close().catch(() => {});
    for (const child of children.reverse()) await stopChild(child);
    await new Promise<void>((done) => {
      web.server.close(() => done());
      web.server.closeAllConnections();
    });
    await rm(root, { recursive: true, force: true });
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    const [relay, forwarder] = await Promise.all([startChild('relay', { origin: web.url, adminKey, dataDir }), startChild('ws-forwarder', {})]);
    children.push(relay, forwarder);
    const relayUrl = relay.info.url!;
    const identity = generateIdentity();
    const { daemonId, apiKey } = await new ControlPlaneClient({ baseUrl: relayUrl }).registerDaemon(adminKey, { identityPublicKey: toBase64Url(identity.publicKey) });
    const [daemon, echo] = await Promise.all([
      startChild('daemon', { relay: relayUrl, apiKey, daemonId, seed: toHex(identity.seed) }),
      startChild('ws-echo', { url: forwarder.info.url! }),
    ]);
    children.push(daemon, echo);
    // Playwright enables DevTools network inspection on every service worker it sees, which
    // makes Chromium base64-encode each WebSocket frame of the worker into a CDP event: in a
    // 200 MiB download that roughly doubled the renderer's CPU (bench/browser-profile.ts
    // --cpu), a cost no user has. Pages keep theirs, so baselines A and C are measured as before.
    process.env.PLAYWRIGHT_DISABLE_SERVICE_WORKER_NETWORK = '1';
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'],
    });
    const context = await browser.newContext();
    const pageUrl = `${web.url}/bench.html?relay=${encodeURIComponent(relayUrl)}`;
    return {
      webUrl: web.url,
      relayUrl,
      wsForwarderUrl: forwarder.info.url!,
      daemonId,
      apiKey,
      browser,
      context,
      pageUrl,
      async openTab() {
        const page = await context.newPage();
        page.on('pageerror', (error) => process.stderr.write(`[page error] ${error.message}\n`));
        if (process.env.SIDEBAND_BENCH_LOG) page.on('console', (message) => process.stderr.write(`[console] ${message.text()}\n`));
        await page.goto(pageUrl);
        await page.waitForFunction('window.sideband ?? window.sidebandError', undefined, { polling: 100 });
        const failed = await page.evaluate('window.sidebandError');
        if (failed) throw new Error(`registerSideband failed: ${JSON.stringify(failed)}`);
        return page;
      },
      async pair(page) {
        const { code } = await createQuickConnect({ relay: relayUrl, apiKey });
        await page.evaluate(`window.sideband.pair(${JSON.stringify(code)})`);
        await page.waitForFunction(`window.sideband.status.state === 'active'`, undefined, { polling: 50, timeout: 30_000 });
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
