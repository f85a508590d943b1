/**
 * The demo web app (demo/index.html) as a user sees it, in real headless Firefox ESR, wired like
 * `npm start` (the same stack as chromium-demo.test.ts: a relay that allows the web origin, the
 * demo daemon publishing events, the web server in dev mode handing out Quick Connect codes).
 * Firefox runs the session on noble and has no request.body in the worker, so the demo's paths
 * differ from Chromium's under the same page. Only what the page shows is used: data-testid
 * elements, clicks and typing; waits are puppeteer's own (waitForFunction, waitForSelector).
 */
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoApp, demoChannels, type Publish } from '../../daemon/demo-app.js';
import { startBrowserStack, type BrowserStack } from './browser-fixture.js';
import { launchFirefox, logConsoleOf, printConsoleOnFailure } from './firefox-fixture.js';

const MIB = 1024 * 1024;
const WAIT_MS = 20_000;

let browser: Browser | undefined;
let stack: BrowserStack | undefined;
let tab: Page;
const pageErrors: string[] = [];

beforeAll(async () => {
  // As scripts/start.ts: publish is late-bound to whichever listener is running (also after a restart).
  const publish: Publish = (name, data) => stack!.daemon.publish(name, data);
  stack = await startBrowserStack({ fetch: demoApp({ publish }), onChannel: demoChannels({ publish }) }, {}, { devPairCode: true });
  browser = await launchFirefox();
  tab = await openDemo();
});

afterAll(async () => {
  try {
    await browser?.close();
  } finally {
    await stack?.close();
  }
});

printConsoleOnFailure();

/** Opens the demo app (index.html) in a new tab, as a user types the web URL. */
async function openDemo(): Promise<Page> {
  const page = await browser!.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.on('pageerror', (error) => pageErrors.push(error instanceof Error ? error.message : String(error)));
  logConsoleOf(page);
  await page.goto(`${stack!.webUrl}/`);
  return page;
}

const selector = (testid: string): string => `[data-testid="${testid}"]`;

/** The whole text of the first element `testid` ('' when there is none). */
const textOf = (page: Page, testid: string): Promise<string> => page.evaluate((s) => document.querySelector(s)?.textContent ?? '', selector(testid));

/** Waits until some element `testid` has exactly `text` (a string) or text matching it (a RegExp). */
async function showing(page: Page, testid: string, text: string | RegExp): Promise<void> {
  const pattern = typeof text === 'string' ? `^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$` : text.source;
  await page.waitForFunction(
    (s, source) => [...document.querySelectorAll(s)].some((el) => new RegExp(source).test(el.textContent ?? '')),
    { polling: 'mutation' },
    selector(testid),
    pattern,
  );
}

/** Waits until element `testid` is shown (true) or hidden or absent (false). */
async function visible(page: Page, testid: string, shown: boolean, timeout = WAIT_MS): Promise<void> {
  await page.waitForSelector(selector(testid), shown ? { visible: true, timeout } : { hidden: true, timeout });
}

/** Replaces the value of input `testid` with `value`, as a user selects it and types. */
async function fill(page: Page, testid: string, value: string): Promise<void> {
  await page.$eval(selector(testid), (el) => {
    (el as HTMLInputElement).value = '';
  });
  await page.type(selector(testid), value);
}

const click = (page: Page, testid: string): Promise<void> => page.click(selector(testid));

describe('Firefox: the demo web app, as npm start serves it', () => {
  it('pairs by itself (dev mode) and shows the session active with the daemon key', async () => {
    await showing(tab, 'state', 'active');
    await showing(tab, 'fingerprint', /^SHA256:/);
    expect(await textOf(tab, 'daemon-id')).toBe(stack!.daemonId);
    await visible(tab, 'offline-banner', false);
    await visible(tab, 'pairing', false);
  });

  it('Ask streams the agent answer word by word until it is done', async () => {
    await fill(tab, 'agent-prompt', 'what does the relay see');
    await click(tab, 'agent-ask');
    // Streaming: part of the answer is on screen while the state still says so.
    await tab.waitForFunction(
      () => {
        const by = (id: string) => document.querySelector(`[data-testid="${id}"]`)?.textContent ?? '';
        return by('agent-state') === 'streaming' && by('agent-answer').trim().split(/\s+/).length >= 2;
      },
      { polling: 'mutation' },
    );
    await showing(tab, 'agent-state', 'done');
    const answer = (await textOf(tab, 'agent-answer')).trim();
    expect(answer.split(/\s+/).length).toBeGreaterThan(10);
    expect(answer).toContain('what does the relay see');
    expect(answer).toMatch(/ciphertext\.$/);
    expect(await textOf(tab, 'agent-error')).toBe('');
  });

  it('the file list shows the daemon files', async () => {
    await showing(tab, 'files-state', 'loaded');
    await showing(tab, 'file-item', /README\.md/);
    expect(await tab.$$eval(selector('file-item'), (items) => items.length)).toBeGreaterThanOrEqual(3);
    expect(await textOf(tab, 'files-error')).toBe('');
  });

  it('a download of 8 MiB completes with every byte counted and the progress bar full', async () => {
    await fill(tab, 'download-mb', '8');
    await click(tab, 'download-start');
    await showing(tab, 'download-state', 'done');
    expect(await textOf(tab, 'download-bytes')).toBe(String(8 * MIB));
    expect(await textOf(tab, 'download-status')).toMatch(/^8\.0 MiB of 8\.0 MiB · /);
    const bar = await tab.$eval(selector('download-progress'), (el) => ({ value: (el as HTMLProgressElement).value, max: (el as HTMLProgressElement).max }));
    expect(bar.value).toBe(bar.max);
    expect(await textOf(tab, 'download-error')).toBe('');
  });

  it('the terminal answers `echo hello` with hello', async () => {
    await fill(tab, 'term-input', 'echo hello');
    await click(tab, 'term-send');
    await tab.waitForFunction(
      (s) => {
        const lines = [...(document.querySelector(s)?.children ?? [])].map((line) => line.textContent);
        return lines.includes('$ echo hello') && lines.includes('hello');
      },
      { polling: 'mutation' },
      selector('term-output'),
    );
    await showing(tab, 'term-state', 'open');
  });

  it('Broadcast shows the text in the events list of this tab and of a second tab', async () => {
    const second = await openDemo();
    await showing(second, 'state', 'active');
    const text = `hello from tab one ${Date.now()}`;
    await fill(tab, 'broadcast-text', text);
    await click(tab, 'broadcast-send');
    for (const page of [tab, second]) {
      await showing(page, 'event-item', new RegExp(text));
      const names = await page.$$eval(selector('event-item'), (items, t) => items.filter((item) => item.textContent?.includes(t)).map((item) => item.getAttribute('data-name')), text);
      expect(names).toEqual(['message']);
    }
    expect(await textOf(tab, 'broadcast-error')).toBe('');
    await second.close();
  });

  it('the daemon stops: the offline banner shows; it starts again: the banner goes and the page is active, no reload', async () => {
    await stack!.daemon.shutdown({ timeoutMs: 1000 });
    await visible(tab, 'offline-banner', true);
    // Settled: the relay says the daemon is not connected, and the banner says so.
    await showing(tab, 'state', 'offline');
    await showing(tab, 'offline-code', 'daemon_offline');
    // What the user gets meanwhile: a question fails at once with the reason, no hang.
    await click(tab, 'agent-ask');
    await showing(tab, 'agent-state', 'failed');
    await showing(tab, 'agent-error', /^daemon_offline: /);

    await stack!.restartDaemon(); // same identity, same API key
    await visible(tab, 'offline-banner', false, 30_000);
    await showing(tab, 'state', 'active');
    // Still the same document (no reload), and it works again: the terminal reopens its channel.
    expect(tab.url()).toBe(`${stack!.webUrl}/`);
    await fill(tab, 'term-input', 'echo back again');
    await click(tab, 'term-send');
    await showing(tab, 'term-output', /back again/);
    await click(tab, 'agent-ask');
    await showing(tab, 'agent-state', 'done');
  });

  it('no uncaught error in any tab', () => {
    expect(pageErrors).toEqual([]);
  });
});
