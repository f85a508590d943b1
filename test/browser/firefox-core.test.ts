/**
 * The product in real headless Firefox ESR (Debian's, driven by puppeteer-core over WebDriver
 * BiDi), with the real built service worker, a real relay and a real daemon. Firefox takes the
 * paths Chromium skips: no native ChaCha20-Poly1305 (the session runs on noble), no static
 * routing, and no request.body in the worker (an upload goes through the whole-body path).
 * Proves pairing through the page, plain fetch('/sideband/...') with hash-checked bytes both
 * ways, the MessagePort fast lane, daemon events reaching the page, and a working reload.
 */
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBrowserStack, type BrowserStack } from './browser-fixture.js';
import { launchFirefox, openFirefoxTab, pairFirefoxTab, printConsoleOnFailure, waitForFirefoxState, waitForSideband } from './firefox-fixture.js';
import { patternSha256, testApp, type TestApp } from './test-app.js';
import { fetchDigest } from './in-page.js';

let browser: Browser | undefined;
let stack: BrowserStack | undefined;
let app: TestApp;
let tab: Page;

beforeAll(async () => {
  app = testApp();
  stack = await startBrowserStack({ fetch: app.fetch });
  browser = await launchFirefox();
  tab = await openFirefoxTab(browser, stack.testPage);
});

afterAll(async () => {
  try {
    await browser?.close();
  } finally {
    await stack?.close();
  }
});

printConsoleOnFailure();

type WithSideband = { sideband: { status: Record<string, unknown> } };

/** fetch in the page (in-page.ts fetchDigest). */
const fetchInPage = (page: Page, path: string) => page.evaluate(fetchDigest, path);

/**
 * POSTs `size` pseudo-random bytes to the daemon's /api/upload from the page, by plain fetch or
 * by the fast lane; returns what the daemon hashed and the page's own hash of what it sent.
 */
async function uploadFromPage(page: Page, size: number, via: 'fetch' | 'call') {
  return page.evaluate(
    async (n, how) => {
      const data = new Uint8Array(n);
      for (let i = 0; i < n; i += 65_536) crypto.getRandomValues(data.subarray(i, i + 65_536));
      const digest = [...new Uint8Array(await crypto.subtle.digest('SHA-256', data))].map((b) => b.toString(16).padStart(2, '0')).join('');
      const s = (window as unknown as { sideband: { call(path: string, init: { method: string; body: Uint8Array }): Promise<Response> } }).sideband;
      const res = how === 'fetch' ? await fetch('/sideband/api/upload', { method: 'POST', body: data }) : await s.call('/api/upload', { method: 'POST', body: data });
      const text = await res.text();
      return { status: res.status, text, digest };
    },
    size,
    via,
  );
}

describe('Firefox: the service worker proxy', () => {
  it('registerSideband() controls the page; an unpaired browser gets 401 not_paired, then pairs through the page', async () => {
    const before = await fetchInPage(tab, '/sideband/api/hello');
    expect(before.status).toBe(401);
    expect(before.error).toBe('not_paired');
    expect(before.json).toMatchObject({ error: { code: 'not_paired' } });
    const status = await pairFirefoxTab(tab, stack!);
    expect(['connecting', 'active']).toContain(status.state);
    const active = await waitForFirefoxState(tab, 'active');
    expect(active.fingerprint).toMatch(/^SHA256:/);
  });

  it('plain fetch reaches the daemon, and a 20 MB download arrives intact (SHA-256 in the page)', async () => {
    const hello = await fetchInPage(tab, '/sideband/api/hello?name=firefox');
    expect(hello.status).toBe(200);
    expect(hello.json).toMatchObject({ hello: 'firefox', cookie: null });
    const size = 20 * 1024 * 1024 + 12_345; // not a whole number of the daemon's 64 KiB chunks
    const download = await fetchInPage(tab, `/sideband/api/pattern?size=${size}&seed=11`);
    expect(download.status).toBe(200);
    expect(download.bytes).toBe(size);
    expect(download.sha256).toBe(patternSha256(size, 11));
  });

  it('uploads 4 MB intact by fetch POST (no request.body in the worker: the whole-body path)', async () => {
    // The premise: this engine's Request has no body stream (the worker's is the same engine).
    expect(await tab.evaluate(() => 'body' in Request.prototype)).toBe(false);
    const size = 4 * 1024 * 1024 + 7;
    const result = await uploadFromPage(tab, size, 'fetch');
    expect(result.status, result.text).toBe(200);
    expect(JSON.parse(result.text)).toEqual({ bytes: size, sha256: result.digest });
  });

  it('the fast lane: sideband.call() POSTs 2 MB intact', async () => {
    const size = 2 * 1024 * 1024 + 3;
    const result = await uploadFromPage(tab, size, 'call');
    expect(result.status, result.text).toBe(200);
    expect(JSON.parse(result.text)).toEqual({ bytes: size, sha256: result.digest });
  });

  it('a daemon event reaches the page through sideband.on("event")', async () => {
    // The listener is in place before the daemon publishes; the wait is on the event itself.
    await tab.evaluate(() => {
      const w = window as unknown as { nextEvent?: Promise<unknown>; sideband: { on(t: 'event', f: (e: { name: string; data: unknown }) => void): () => void } };
      w.nextEvent = new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          off();
          reject(new Error('no daemon event within 15 s'));
        }, 15_000);
        const off = w.sideband.on('event', (event) => {
          if (event.name !== 'news') return;
          clearTimeout(timer);
          off();
          resolve(event);
        });
      });
    });
    expect(stack!.daemon.publish('news', { n: 1 })).toBe(1);
    const event = await tab.evaluate(() => (window as unknown as { nextEvent: Promise<unknown> }).nextEvent);
    expect(event).toEqual({ name: 'news', data: { n: 1 } });
  });

  it('a normal reload keeps the worker in control: the next fetch works', async () => {
    const reloaded = await tab.reload();
    expect(reloaded?.status()).toBe(200);
    await waitForSideband(tab);
    expect(await tab.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);
    await waitForFirefoxState(tab, 'active');
    const res = await fetchInPage(tab, '/sideband/api/hello?name=reloaded');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ hello: 'reloaded' });
  });

  it('the session runs on noble (Firefox 140 has no native ChaCha20-Poly1305)', async () => {
    const status = await tab.evaluate(() => (window as unknown as WithSideband).sideband.status);
    expect(status).toMatchObject({ state: 'active', aead: 'noble' });
    // And the browser indeed lacks it: the worker's choice is not a fallback hiding a native one.
    const native = await tab.evaluate(async () => {
      try {
        await crypto.subtle.importKey('raw', new Uint8Array(32), { name: 'ChaCha20-Poly1305' }, false, ['encrypt']);
        return true;
      } catch {
        return false;
      }
    });
    expect(native).toBe(false);
  });
});
