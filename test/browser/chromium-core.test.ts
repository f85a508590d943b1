/**
 * The product in real headless Chromium (Debian's), with the real built service worker, a real
 * relay and a real daemon: pairing through the page, plain fetch('/sideband/...') from several
 * tabs over ONE relay connection, streaming both ways, EventSource, cancellation.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, openTab, pairTab, relayConnections, startBrowserStack, waitForState, workerHeapUsed, type BrowserStack } from './browser-fixture.js';
import { patternSha256, testApp, type TestApp } from './test-app.js';
import { fetchDigest } from './in-page.js';

let browser: Browser;
let stack: BrowserStack;
let app: TestApp;
let context: BrowserContext;
let first: Page;

beforeAll(async () => {
  app = testApp();
  stack = await startBrowserStack({ fetch: app.fetch });
  browser = await launchChromium();
  context = await browser.newContext();
  first = await openTab(context, stack.testPage);
});

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

/** fetch in the page (in-page.ts fetchDigest). */
const fetchInPage = (page: Page, path: string) => page.evaluate(fetchDigest, path);

describe('Chromium: the service worker proxy', () => {
  it('an unpaired browser gets 401 not_paired as JSON, then pairs through the page', async () => {
    const before = await fetchInPage(first, '/sideband/api/hello');
    expect(before.status).toBe(401);
    expect(before.error).toBe('not_paired');
    expect(before.json).toMatchObject({ error: { code: 'not_paired' } });
    const status = await pairTab(first, stack);
    expect(['connecting', 'active']).toContain(status.state);
    const active = await waitForState(first, 'active');
    expect(active.fingerprint).toMatch(/^SHA256:/);
    const res = await fetchInPage(first, '/sideband/api/hello?name=tab1');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ hello: 'tab1', cookie: null });
  });

  it('five tabs issue concurrent requests over one relay client connection, each getting its own bytes', async () => {
    const tabs = [first, ...(await Promise.all([1, 2, 3, 4].map(() => openTab(context, stack.testPage))))];
    const results = await Promise.all(
      tabs.flatMap((tab, t) => [0, 1, 2, 3, 4].map((k) => fetchInPage(tab, `/sideband/api/pattern?size=${100_000 + t * 1000 + k}&seed=${t * 10 + k}`).then((r) => ({ r, t, k })))),
    );
    for (const { r, t, k } of results) {
      expect(r.status).toBe(200);
      expect(r.sha256).toBe(patternSha256(100_000 + t * 1000 + k, t * 10 + k));
    }
    expect(await relayConnections(stack.relay)).toMatchObject({ client: 1, daemon: 1 });
    for (const tab of tabs.slice(1)) await tab.close();
  });

  it('requests outside /sideband/ never reach the worker (static routing)', async () => {
    const stats = await first.evaluate(async () => {
      for (const path of ['/test.html', '/index.html', '/nope.txt']) await fetch(path);
      const { port1, port2 } = new MessageChannel();
      const reply = new Promise<{ result: Record<string, unknown> }>((resolve) => (port1.onmessage = (e) => resolve(e.data)));
      navigator.serviceWorker.controller!.postMessage({ v: 1, type: 'stats', port: port2 }, [port2]);
      return (await reply).result;
    });
    expect(stats.answered).toBeGreaterThan(0);
    expect(stats.passedThrough).toBe(0);
  });

  it('streams a response token by token: the page reads each token before the daemon writes the next', async () => {
    const tokens = await first.evaluate(async () => {
      const res = await fetch('/sideband/api/tokens?id=s1&n=5');
      const reader = res.body!.getReader();
      const seen: string[] = [];
      let text = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
        const parts = text.split(' ').filter(Boolean);
        while (seen.length < parts.length && text.endsWith(' ')) {
          seen.push(parts[seen.length]!);
          // The daemon holds token i until this ack: the stream cannot be buffered whole.
          await fetch(`/sideband/api/ack?id=s1&i=${seen.length}`);
        }
      }
      return seen;
    });
    expect(tokens).toEqual(['token0', 'token1', 'token2', 'token3', 'token4']);
  });

  it('EventSource works through the worker', async () => {
    const events = await first.evaluate(
      () =>
        new Promise<string[]>((resolve, reject) => {
          const source = new EventSource('/sideband/api/sse');
          const got: string[] = [];
          source.addEventListener('tick', (e) => {
            got.push((e as MessageEvent).data as string);
            if (got.length === 3) {
              source.close();
              resolve(got);
            }
          });
          source.onerror = () => {
            if (got.length < 3) reject(new Error('EventSource failed'));
          };
        }),
    );
    expect(events).toEqual(['{"n":1}', '{"n":2}', '{"n":3}']);
  });

  it('uploads 20 MB intact (streamed request body)', async () => {
    const result = await first.evaluate(async () => {
      const data = new Uint8Array(20 * 1024 * 1024);
      for (let i = 0; i < data.length; i += 4096) data[i] = (i / 4096) & 0xff;
      const digest = [...new Uint8Array(await crypto.subtle.digest('SHA-256', data))].map((b) => b.toString(16).padStart(2, '0')).join('');
      const res = await fetch('/sideband/api/upload', { method: 'POST', body: data });
      return { status: res.status, body: (await res.json()) as { bytes: number; sha256: string }, digest };
    });
    expect(result.status).toBe(200);
    expect(result.body.bytes).toBe(20 * 1024 * 1024);
    expect(result.body.sha256).toBe(result.digest);
  });

  it('downloads 200 MB intact through the worker at bounded worker memory', async () => {
    const size = 200 * 1024 * 1024;
    const before = await workerHeapUsed(browser);
    // The page reads in steps it announces (window.step), so the heap is sampled mid-download.
    const running = first.evaluate(async (n) => {
      const res = await fetch(`/sideband/api/pattern?size=${n}&seed=7`);
      const reader = res.body!.getReader();
      let bytes = 0;
      const w = window as unknown as { half?: boolean; resume?: () => void };
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        bytes += value.length;
        if (!w.half && bytes >= n / 2) {
          w.half = true;
          await new Promise<void>((resolve) => (w.resume = resolve)); // stalled reader: the browser buffers, then credit stops
        }
      }
      return { status: res.status, bytes };
    }, size);
    await first.waitForFunction(() => (window as unknown as { resume?: unknown }).resume, undefined, { polling: 50 });
    const stalled = await workerHeapUsed(browser);
    await first.evaluate(() => (window as unknown as { resume: () => void }).resume());
    const result = await running;
    expect(result.status).toBe(200);
    expect(result.bytes).toBe(size);
    process.stdout.write(`[worker heap] before ${(before / 2 ** 20).toFixed(1)} MiB, reader stalled at 100 MB ${(stalled / 2 ** 20).toFixed(1)} MiB\n`);
    // The worker holds at most the session window (WORKER_DEFAULTS.sessionWindow, 1 MiB) of body bytes, whatever the reader does.
    expect(stalled - before).toBeLessThan(32 * 2 ** 20);
  });

  it('a tab closed mid-download cancels the daemon handler (request.signal aborts)', async () => {
    const tab = await openTab(context, stack.testPage);
    await tab.evaluate(async () => {
      const res = await fetch('/sideband/api/endless');
      const reader = res.body!.getReader();
      await reader.read();
      await reader.read();
    });
    await tab.close();
    await app.downloadAborted; // fails by test timeout if the cancel never reaches the daemon
  });
});
