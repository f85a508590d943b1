import puppeteer, { type Browser, type ConsoleMessage, type Page } from 'puppeteer-core';
import { beforeEach } from 'vitest';
import type { BrowserStack } from './browser-fixture.js';

/** Debian's Firefox ESR (installed by .ci/run); nothing downloads a browser. */
export const FIREFOX = process.env.SIDEBAND_FIREFOX ?? '/usr/bin/firefox-esr';

/**
 * Preferences on top of puppeteer's (and the remote agent's) test defaults. Service workers are
 * on by default and http://127.0.0.1 is a secure context, so none are needed for them; these keep
 * Firefox off the network (the machine has none, and a hanging request must not slow a test).
 */
const QUIET_PREFS: Record<string, unknown> = {
  // Telemetry, health report, crash and studies.
  'toolkit.telemetry.enabled': false,
  'toolkit.telemetry.unified': false,
  'toolkit.telemetry.archive.enabled': false,
  'toolkit.telemetry.server': '',
  'toolkit.telemetry.updatePing.enabled': false,
  'toolkit.telemetry.shutdownPingSender.enabled': false,
  'toolkit.telemetry.newProfilePing.enabled': false,
  'toolkit.telemetry.firstShutdownPing.enabled': false,
  'toolkit.telemetry.bhrPing.enabled': false,
  'datareporting.healthreport.uploadEnabled': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'browser.crashReports.unsubmittedCheck.enabled': false,
  'app.shield.optoutstudies.enabled': false,
  'app.normandy.enabled': false,
  'browser.discovery.enabled': false,
  'browser.ping-centre.telemetry': false,
  // Updates (of the app, add-ons, search engines, remote settings).
  'app.update.auto': false,
  'app.update.enabled': false,
  'app.update.disabledForTesting': true,
  'extensions.update.enabled': false,
  'extensions.getAddons.cache.enabled': false,
  'extensions.blocklist.enabled': false,
  'browser.search.update': false,
  'browser.region.update.enabled': false,
  'browser.region.network.url': '',
  'browser.search.geoip.url': '',
  // Captive portal and connectivity checks.
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'captivedetect.canonicalURL': '',
  // Safe browsing (lists and lookups).
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'browser.safebrowsing.downloads.enabled': false,
  'browser.safebrowsing.downloads.remote.enabled': false,
  'browser.safebrowsing.blockedURIs.enabled': false,
  'browser.safebrowsing.provider.google.updateURL': '',
  'browser.safebrowsing.provider.google4.updateURL': '',
  'browser.safebrowsing.provider.mozilla.updateURL': '',
  // Web Push keeps a WebSocket to Mozilla's push service open while service workers exist.
  'dom.push.connection.enabled': false,
  // Speculative and background connections.
  'network.dns.disablePrefetch': true,
  'network.prefetch-next': false,
  'network.predictor.enabled': false,
  'network.http.speculative-parallel-limit': 0,
  'browser.newtabpage.activity-stream.feeds.section.topstories': false,
  'browser.newtabpage.activity-stream.feeds.telemetry': false,
  'browser.newtabpage.activity-stream.telemetry': false,
  // Remote settings (blocklists, etc.): release builds honour this only with
  // MOZ_DISABLE_NONLOCAL_CONNECTIONS=1 (set at launch); this value makes them skip all syncing.
  'services.settings.server': 'data:,#remote-settings-dummy/v1',
  'identity.fxaccounts.enabled': false,
  'services.sync.enabled': false,
  'network.trr.mode': 5,
};

export function launchFirefox(): Promise<Browser> {
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    headless: true,
    // puppeteer 24 drives Firefox only over WebDriver BiDi (its default for Firefox); said explicitly.
    protocol: 'webDriverBiDi',
    extraPrefsFirefox: QUIET_PREFS,
    // Firefox refuses every connection but to loopback (everything here is on 127.0.0.1), and
    // release builds then honour the remote settings override above.
    env: { ...process.env, MOZ_DISABLE_NONLOCAL_CONNECTIONS: '1' },
    // The test decides when it is too slow, not puppeteer's 180 s protocol timeout.
    protocolTimeout: 60_000,
    timeout: 30_000,
  });
}

/** Console lines of every page opened here, printed by the test file when a test fails. */
export const consoleLog: string[] = [];

/** Keeps `page`'s console lines in `consoleLog`. */
export function logConsoleOf(page: Page): void {
  page.on('console', (message: ConsoleMessage) => {
    const line = `[console ${message.type()}] ${message.text()}`;
    consoleLog.push(line);
    if (process.env.SIDEBAND_BROWSER_LOG) process.stderr.write(`${line}\n`);
  });
}

/**
 * Registers, for the calling test file, a hook that prints what the pages logged during a test
 * when that test fails: the evidence of what went wrong in the browser.
 */
export function printConsoleOnFailure(): void {
  beforeEach(({ onTestFailed }) => {
    consoleLog.length = 0;
    onTestFailed(() => {
      if (consoleLog.length > 0) process.stderr.write(`page console:\n${consoleLog.join('\n')}\n`);
    });
  });
}

/** Opens the test page in a new tab and waits for registerSideband(). Returns the page. */
export async function openFirefoxTab(browser: Browser, url: string): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (error) => process.stderr.write(`[page error] ${error instanceof Error ? error.message : String(error)}\n`));
  logConsoleOf(page);
  const response = await page.goto(url);
  // dist/test-web is shared: another run's global setup empties and rebuilds it (then a 404 here).
  if (response && !response.ok()) throw new Error(`${url} answered ${response.status()}`);
  await waitForSideband(page);
  return page;
}

/** Waits until the page's registerSideband() settled; throws its error if it failed. */
export async function waitForSideband(page: Page, timeoutMs = 30_000): Promise<void> {
  await page.waitForFunction(() => (window as unknown as { sideband?: unknown }).sideband ?? (window as unknown as { sidebandError?: unknown }).sidebandError, { polling: 100, timeout: timeoutMs });
  const failed = await page.evaluate(() => (window as unknown as { sidebandError?: { code: string; message: string } }).sidebandError);
  if (failed) throw new Error(`registerSideband failed: ${failed.code}: ${failed.message}`);
}

/** Pairs through the page library in `page` with a fresh code; resolves with the status. */
export async function pairFirefoxTab(page: Page, stack: BrowserStack): Promise<{ state: string }> {
  const code = await stack.pairCode();
  return page.evaluate((c) => (window as unknown as { sideband: { pair(code: string): Promise<{ state: string }> } }).sideband.pair(c), code);
}

/** Waits until the tab's status has `state` (event-driven inside the page; no polling from here). */
export async function waitForFirefoxState(page: Page, state: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  return page.evaluate(
    (wanted, ms) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const s = (window as unknown as { sideband: { status: Record<string, unknown>; on(t: 'status', f: (s: Record<string, unknown>) => void): () => void } }).sideband;
        if (s.status.state === wanted) return resolve(s.status);
        const timer = setTimeout(() => {
          off();
          reject(new Error(`state ${wanted} not reached; last ${JSON.stringify(s.status)}`));
        }, ms);
        const off = s.on('status', (status) => {
          if (status.state !== wanted) return;
          clearTimeout(timer);
          off();
          resolve(status);
        });
      }),
    state,
    timeoutMs,
  );
}
