/**
 * The demo web app (demo/index.html) as a user sees it, in real headless Chromium, wired like
 * `npm start`: a relay that allows the web origin, the demo daemon (demoApp + demoChannels,
 * publishing daemon events) and the web server in dev mode (`GET /dev/pair-code` hands out a
 * fresh Quick Connect code). Only what the page shows is used: data-testid locators, clicks and
 * typing; every wait is Playwright's own (locator.waitFor, page.waitForFunction with polling).
 */
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoApp, demoChannels, type Publish } from '../../daemon/demo-app.js';
import { launchChromium, startBrowserStack, type BrowserStack } from './browser-fixture.js';

const MIB = 1024 * 1024;
const WAIT_MS = 20_000;

let browser: Browser;
let stack: BrowserStack;
let context: BrowserContext;
let tab: Page;
const pageErrors: string[] = [];

beforeAll(async () => {
  // As scripts/start.ts: publish is late-bound to whichever listener is running (also after a restart).
  const publish: Publish = (name, data) => stack.daemon.publish(name, data);
  stack = await startBrowserStack({ fetch: demoApp({ publish }), onChannel: demoChannels({ publish }) }, {}, { devPairCode: true });
  browser = await launchChromium();
  context = await browser.newContext();
  tab = await openDemo();
});

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

/** Opens the demo app (index.html) in a new tab, as a user types the web URL. */
async function openDemo(): Promise<Page> {
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.on('pageerror', (error) => pageErrors.push(error.message));
  if (process.env.SIDEBAND_BROWSER_LOG) page.on('console', (message) => process.stderr.write(`[console] ${message.text()}\n`));
  await page.goto(`${stack.webUrl}/`);
  return page;
}

/** The element `testid` once its whole text is `text` (auto-waiting). */
const showing = (page: Page, testid: string, text: string | RegExp): Promise<void> =>
  page
    .getByTestId(testid)
    .filter({ hasText: typeof text === 'string' ? new RegExp(`^${text}$`) : text })
    .waitFor();

const textOf = async (locator: Locator): Promise<string> => (await locator.textContent()) ?? '';

describe('Chromium: the demo web app, as npm start serves it', () => {
  it('pairs by itself (dev mode) and shows the session active with the daemon key', async () => {
    await showing(tab, 'state', 'active');
    await showing(tab, 'fingerprint', /^SHA256:/);
    expect(await textOf(tab.getByTestId('daemon-id'))).toBe(stack.daemonId);
    await tab.getByTestId('offline-banner').waitFor({ state: 'hidden' });
    await tab.getByTestId('pairing').waitFor({ state: 'hidden' });
  });

  it('Ask streams the agent answer word by word until it is done', async () => {
    await tab.getByTestId('agent-prompt').fill('what does the relay see');
    await tab.getByTestId('agent-ask').click();
    // Streaming: part of the answer is on screen while the state still says so.
    await tab.waitForFunction(
      () => {
        const by = (id: string) => document.querySelector(`[data-testid="${id}"]`)?.textContent ?? '';
        return by('agent-state') === 'streaming' && by('agent-answer').trim().split(/\s+/).length >= 2;
      },
      undefined,
      { polling: 10 },
    );
    await showing(tab, 'agent-state', 'done');
    const answer = (await textOf(tab.getByTestId('agent-answer'))).trim();
    expect(answer.split(/\s+/).length).toBeGreaterThan(10);
    expect(answer).toContain('what does the relay see');
    expect(answer).toMatch(/ciphertext\.$/);
    expect(await textOf(tab.getByTestId('agent-error'))).toBe('');
  });

  it('the file list shows the daemon files', async () => {
    await showing(tab, 'files-state', 'loaded');
    const items = tab.getByTestId('file-item');
    await items.first().waitFor();
    expect(await items.count()).toBeGreaterThanOrEqual(3);
    await items.filter({ hasText: 'README.md' }).waitFor();
    expect(await textOf(tab.getByTestId('files-error'))).toBe('');
  });

  it('a download of 8 MiB completes with every byte counted and the progress bar full', async () => {
    await tab.getByTestId('download-mb').fill('8');
    await tab.getByTestId('download-start').click();
    await showing(tab, 'download-state', 'done');
    expect(await textOf(tab.getByTestId('download-bytes'))).toBe(String(8 * MIB));
    expect(await textOf(tab.getByTestId('download-status'))).toMatch(/^8\.0 MiB of 8\.0 MiB · /);
    const bar = await tab.getByTestId('download-progress').evaluate((el: HTMLProgressElement) => ({ value: el.value, max: el.max }));
    expect(bar.value).toBe(bar.max);
    expect(await textOf(tab.getByTestId('download-error'))).toBe('');
  });

  it('the terminal answers `echo hello` with hello', async () => {
    await tab.getByTestId('term-input').fill('echo hello');
    await tab.getByTestId('term-send').click();
    const output = tab.getByTestId('term-output');
    await output.getByText('$ echo hello', { exact: true }).waitFor();
    await output.getByText('hello', { exact: true }).waitFor();
    await showing(tab, 'term-state', 'open');
  });

  it('Broadcast shows the text in the events list of this tab and of a second tab', async () => {
    const second = await openDemo();
    await showing(second, 'state', 'active');
    const text = `hello from tab one ${Date.now()}`;
    await tab.getByTestId('broadcast-text').fill(text);
    await tab.getByTestId('broadcast-send').click();
    for (const page of [tab, second]) {
      await page.getByTestId('event-item').filter({ hasText: text }).waitFor();
      expect(await page.getByTestId('event-item').filter({ hasText: text }).getAttribute('data-name')).toBe('message');
    }
    expect(await textOf(tab.getByTestId('broadcast-error'))).toBe('');
    await second.close();
  });

  it('the daemon stops: the offline banner shows; it starts again: the banner goes and the page is active, no reload', async () => {
    const second = await openDemo();
    await showing(second, 'state', 'active');
    await stack.daemon.shutdown({ timeoutMs: 1000 });
    for (const page of [tab, second]) {
      await page.getByTestId('offline-banner').waitFor({ state: 'visible' });
      await showing(page, 'state', /^(paused|reconnecting|offline)$/);
    }
    // Settled: the relay says the daemon is not connected, and the banner says so.
    await showing(tab, 'state', 'offline');
    await showing(tab, 'offline-code', 'daemon_offline');
    await showing(tab, 'offline-detail', /^The daemon is not running or not connected to the relay\./);
    // What the user gets meanwhile: a question fails at once with the reason, no hang.
    await tab.getByTestId('agent-ask').click();
    await showing(tab, 'agent-state', 'failed');
    await showing(tab, 'agent-error', /^daemon_offline: /);

    await stack.restartDaemon(); // same identity, same API key
    for (const page of [tab, second]) {
      await page.getByTestId('offline-banner').waitFor({ state: 'hidden', timeout: 30_000 });
      await showing(page, 'state', 'active');
    }
    // Still the same documents (no reload), and they work again: the terminal reopens its channel.
    expect(tab.url()).toBe(`${stack.webUrl}/`);
    await tab.getByTestId('term-input').fill('echo back again');
    await tab.getByTestId('term-send').click();
    await tab.getByTestId('term-output').getByText('back again', { exact: true }).waitFor();
    await second.getByTestId('agent-ask').click();
    await showing(second, 'agent-state', 'done');
    await second.close();
  });

  it('no uncaught error in any tab', () => {
    expect(pageErrors).toEqual([]);
  });
});
