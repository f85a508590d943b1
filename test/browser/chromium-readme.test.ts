/**
 * The README's examples, run for real (the docs are a contract): docs/examples/daemon.ts serves
 * docs/examples/daemon-app.ts through a relay started as docs/examples/relay.ts shows, and
 * docs/examples/web-app.ts (bundled like an app would) pairs from a `#pair=` link in Chromium,
 * fetches through the worker and makes a typed Hono `hc` call.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createQuickConnect } from '../../daemon/quick-connect.js';
import type { Listener } from '../../daemon/listen-types.js';
import { startWebServer } from '../../demo/server.js';
import { ControlPlaneClient } from '../../node/control-plane-client.js';
import { toBase64Url } from '../../protocol/bytes.js';
import { loadOrCreateIdentity } from '../../daemon/identity.js';
import type { RelayServer } from '../../relay/index.js';
import { startDaemon } from '../../docs/examples/daemon.js';
import { relayForWebApp } from '../../docs/examples/relay.js';
import { freePort, launchChromium } from './browser-fixture.js';
import { testWebRoot } from './test-web-root.js';

let dir: string;
let relay: RelayServer;
let daemon: Listener;
let web: { url: string; close(): Promise<void> };
let browser: Browser;
let apiKey: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sideband-readme-'));
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  relay = await relayForWebApp(origin, join(dir, 'relay'));
  const identityPath = join(dir, 'identity.json');
  const { identity } = await loadOrCreateIdentity(identityPath);
  ({ apiKey } = await new ControlPlaneClient({ baseUrl: relay.url }).registerDaemon(relay.adminKey, { identityPublicKey: toBase64Url(identity.publicKey) }));
  daemon = await startDaemon(relay.url, apiKey, identityPath);
  web = await startWebServer({ port, host: '127.0.0.1', root: testWebRoot(), relayUrl: relay.url });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await web?.close();
  await daemon?.shutdown({ timeoutMs: 1000 });
  await relay?.close();
  await rm(dir, { recursive: true, force: true });
});

it('the web-app example pairs from its link, fetches and makes a typed call', async () => {
  const { code } = await createQuickConnect({ relay: relay.url, apiKey });
  const page = await browser.newPage();
  await page.goto(`${web.url}/readme.html?relay=${encodeURIComponent(relay.url)}#pair=${code}`);
  await page.waitForFunction(() => (window as unknown as { started?: Promise<void> }).started, undefined, { polling: 50 });
  await page.evaluate(() => (window as unknown as { started: Promise<void> }).started);
  const lines = await page.evaluate(() => (window as unknown as { lines: string[] }).lines);
  expect(lines).toContain('files {"dir":"src","files":["README.md","src/"]}');
  expect(lines).toContain('saved hi');
  expect(lines.at(-1)).toBe('done');
});
