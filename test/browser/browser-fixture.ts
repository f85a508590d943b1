import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startRelay, type RelayOptions, type RelayServer } from '../../relay/index.js';
import { listen } from '../../daemon/listen.js';
import type { Listener, ListenOptions } from '../../daemon/listen-types.js';
import { createQuickConnect } from '../../daemon/quick-connect.js';
import { generateIdentity, type DaemonIdentity } from '../../daemon/identity.js';
import { startWebServer } from '../../demo/server.js';
import { ControlPlaneClient } from '../../node/control-plane-client.js';
import { toBase64Url } from '../../protocol/bytes.js';
import { testWebRoot } from './test-web-root.js';
import { freePort } from '../../relay/testing/free-port.js';

export { freePort };

export const ADMIN_KEY = 'browser-admin-key-0123456789abcdef';
const FAST_RECONNECT = { minDelayMs: 50, maxDelayMs: 500, jitter: 'none' } as const;

/** Debian's Chromium (installed by .ci/run); nothing downloads a browser. */
export const CHROMIUM = process.env.SIDEBAND_CHROMIUM ?? '/usr/bin/chromium';

export interface BrowserStack {
  relay: RelayServer;
  daemonId: string;
  apiKey: string;
  identity: DaemonIdentity;
  daemon: Listener;
  /** The web app's origin, e.g. http://127.0.0.1:40111. */
  webUrl: string;
  /** URL of the bare test page (window.sideband). */
  testPage: string;
  /** A fresh Quick Connect code. */
  pairCode(): Promise<string>;
  /** Starts the daemon again (after `daemon.shutdown()`), with the same or another identity. */
  restartDaemon(identity?: DaemonIdentity): Promise<Listener>;
  /** Closes the relay and starts it again on the same port with the same SQLite state. */
  restartRelay(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A real relay (port 0, Quick Connect on, the web app's origin allowed), one registered daemon
 * serving `fetch` through listen(), and the demo web server on its own origin serving the
 * built worker. Everything over real sockets; `close()` releases all of it.
 */
export interface BrowserStackWebOptions {
  /**
   * Dev mode as `npm start` runs it: the web server answers `GET /dev/pair-code` with a fresh
   * Quick Connect code (60 s), so the demo page (index.html) pairs by itself.
   */
  devPairCode?: boolean;
}

export async function startBrowserStack(
  options: Partial<ListenOptions> & Pick<ListenOptions, 'fetch'>,
  relayOptions: RelayOptions = {},
  webOptions: BrowserStackWebOptions = {},
): Promise<BrowserStack> {
  const webPort = await freePort();
  const webUrl = `http://127.0.0.1:${webPort}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'sideband-browser-'));
  const relayConfig: RelayOptions = { adminKey: ADMIN_KEY, quickConnect: true, allowedOrigins: [webUrl], webAppUrl: webUrl, graceMs: 5_000, dataDir, ...relayOptions };
  const relay = await startRelay({ port: 0, ...relayConfig });
  const relayPort = Number(new URL(relay.url).port);
  const identity = generateIdentity();
  const { daemonId, apiKey } = await new ControlPlaneClient({ baseUrl: relay.url }).registerDaemon(ADMIN_KEY, { identityPublicKey: toBase64Url(identity.publicKey) });
  const start = (id: DaemonIdentity) => listen({ relay: relay.url, apiKey, daemonId, identity: id, reconnect: FAST_RECONNECT, ...options });
  const stack: BrowserStack = {
    relay,
    daemonId,
    apiKey,
    identity,
    daemon: await start(identity),
    webUrl,
    testPage: `${webUrl}/test.html?relay=${encodeURIComponent(relay.url)}`,
    pairCode: async () => (await createQuickConnect({ relay: relay.url, apiKey })).code,
    async restartDaemon(id = identity) {
      stack.daemon = await start(id);
      return stack.daemon;
    },
    async restartRelay() {
      await stack.relay.close();
      stack.relay = await startRelay({ port: relayPort, ...relayConfig });
    },
    async close() {
      await stack.daemon.shutdown({ timeoutMs: 1000 }).catch(() => {});
      await web.close();
      await stack.relay.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  const devPairCode = webOptions.devPairCode ? async () => (await createQuickConnect({ relay: stack.relay.url, apiKey, ttlSeconds: 60 })).code : undefined;
  const web = await startWebServer({ port: webPort, host: '127.0.0.1', root: testWebRoot(), relayUrl: relay.url, devPairCode });
  return stack;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'],
  });
}

/** Opens the test page in a new tab and waits for registerSideband(). Returns the page. */
export async function openTab(context: BrowserContext, url: string): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (error) => process.stderr.write(`[page error] ${error.message}\n`));
  await page.goto(url);
  if (process.env.SIDEBAND_BROWSER_LOG) page.on('console', (message) => process.stderr.write(`[console] ${message.text()}\n`));
  await page.waitForFunction(() => (window as unknown as { sideband?: unknown; sidebandError?: unknown }).sideband ?? (window as unknown as { sidebandError?: unknown }).sidebandError, undefined, { polling: 100 });
  const failed = await page.evaluate(() => (window as unknown as { sidebandError?: { code: string; message: string } }).sidebandError);
  if (failed) throw new Error(`registerSideband failed: ${failed.code}: ${failed.message}`);
  return page;
}

/** Pairs through the page library in `page` with a fresh code; resolves with the status. */
export async function pairTab(page: Page, stack: BrowserStack): Promise<{ state: string }> {
  const code = await stack.pairCode();
  return page.evaluate((c) => (window as unknown as { sideband: { pair(code: string): Promise<{ state: string }> } }).sideband.pair(c), code);
}

/** Waits until the tab's status has `state` (event-driven inside the page; no polling from here). */
export async function waitForState(page: Page, state: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  return page.evaluate(
    ([wanted, ms]) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const s = (window as unknown as { sideband: { status: Record<string, unknown>; on(t: 'status', f: (s: Record<string, unknown>) => void): () => void } }).sideband;
        if (s.status.state === wanted) return resolve(s.status);
        const timer = setTimeout(() => {
          off();
          reject(new Error(`state ${String(wanted)} not reached; last ${JSON.stringify(s.status)}`));
        }, ms as number);
        const off = s.on('status', (status) => {
          if (status.state !== wanted) return;
          clearTimeout(timer);
          off();
          resolve(status);
        });
      }),
    [state, timeoutMs] as const,
  );
}

/** The relay's open connections by role, from its real /metrics endpoint. */
export async function relayConnections(relay: RelayServer): Promise<{ client: number; daemon: number }> {
  const text = await (await fetch(`${relay.url}/metrics`)).text();
  const read = (role: string) => Number(new RegExp(`sbrp_relay_connections\\{role="${role}"\\} (\\d+)`).exec(text)?.[1] ?? NaN);
  return { client: read('client'), daemon: read('daemon') };
}

/**
 * JS heap in use by the origin's service worker, in bytes (CDP Runtime.getHeapUsage through a
 * browser-level session: Playwright gives no CDP session for worker targets, and workers have
 * no performance.memory). Attaching keeps the worker alive, which this measurement wants.
 */
export async function workerHeapUsed(browser: Browser): Promise<number> {
  const cdp = await browser.newBrowserCDPSession();
  try {
    const { targetInfos } = await cdp.send('Target.getTargets');
    const target = targetInfos.find((t) => t.type === 'service_worker');
    if (!target) throw new Error('no service worker target');
    const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: target.targetId, flatten: false });
    const answer = new Promise<number>((resolve, reject) => {
      cdp.on('Target.receivedMessageFromTarget', (event) => {
        if (event.sessionId !== sessionId) return;
        const message = JSON.parse(event.message) as { id?: number; result?: { usedSize: number }; error?: { message: string } };
        if (message.id !== 1) return;
        if (message.result) resolve(message.result.usedSize);
        else reject(new Error(message.error?.message ?? 'getHeapUsage failed'));
      });
    });
    await cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id: 1, method: 'Runtime.getHeapUsage' }) });
    const used = await answer;
    await cdp.send('Target.detachFromTarget', { sessionId });
    return used;
  } finally {
    await cdp.detach();
  }
}

/** Chromium with one tab of the test page, paired with the stack's daemon and active. */
export async function pairedChromium(stack: BrowserStack): Promise<{ browser: Browser; context: BrowserContext; tab: Page }> {
  const browser = await launchChromium();
  const context = await browser.newContext();
  const tab = await openTab(context, stack.testPage);
  await pairTab(tab, stack);
  await waitForState(tab, 'active');
  return { browser, context, tab };
}
