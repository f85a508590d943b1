/**
 * What the browser and the world do to the worker, in real headless Chromium with the real
 * built worker, relay and daemon: hard reload, late tabs, the worker stopped mid-session (CDP
 * ServiceWorker.stopAllWorkers) with a POST in flight, relay restart, daemon stop/start, a
 * replaced daemon key approved in one tab, a revoked device. Waits are on page status events.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity } from '../../daemon/identity.js';
import { revokeDevice } from '../../daemon/quick-connect.js';
import { openTab, pairedChromium, startBrowserStack, waitForState, type BrowserStack } from './browser-fixture.js';
import { testApp, type TestApp } from './test-app.js';

let browser: Browser;
let stack: BrowserStack;
let app: TestApp;
let context: BrowserContext;
let tab: Page;

beforeAll(async () => {
  app = testApp();
  stack = await startBrowserStack({ fetch: app.fetch });
  ({ browser, context, tab } = await pairedChromium(stack));
});

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

async function get(page: Page, path: string) {
  return page.evaluate(async (p) => {
    const res = await fetch(p);
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, json, code: res.headers.get('sideband-error'), retryAfter: res.headers.get('retry-after') };
  }, path);
}

const status = (page: Page) => page.evaluate(() => (window as unknown as { sideband: { status: Record<string, unknown> } }).sideband.status);

describe('Chromium: lifecycle', () => {
  it('a hard reload (no controller at first) and a tab opened later both get working fetches', async () => {
    const cdp = await context.newCDPSession(tab);
    await cdp.send('Page.reload', { ignoreCache: true });
    await cdp.detach();
    await tab.waitForFunction(() => (window as unknown as { sideband?: unknown }).sideband);
    expect((await get(tab, '/sideband/api/hello?name=reloaded')).json).toMatchObject({ hello: 'reloaded' });
    const later = await openTab(context, stack.testPage);
    expect((await get(later, '/sideband/api/hello?name=later')).json).toMatchObject({ hello: 'later' });
    await later.close();
  });

  it('the worker stopped mid-session: the next request brings the session back', async () => {
    const bootBefore = (await status(tab)).bootId;
    const cdp = await context.newCDPSession(tab);
    await cdp.send('ServiceWorker.enable');
    await cdp.send('ServiceWorker.stopAllWorkers');
    const res = await get(tab, '/sideband/api/hello?name=after-stop');
    expect(res.status).toBe(200);
    await cdp.detach();
    // The page notices the new instance (its status carries another boot id) on its next hello.
    await tab.evaluate(() => navigator.serviceWorker.controller?.postMessage({ v: 1, type: 'heartbeat' }));
    expect(bootBefore).toBeTypeOf('string');
  });

  it('a POST in flight when the worker stops is not executed twice unnoticed', async () => {
    const pending = tab.evaluate(async () => {
      const res = await fetch('/sideband/api/count?id=p1&hold=1', { method: 'POST', body: 'once' });
      return { status: res.status, code: res.headers.get('sideband-error') ?? ((await res.json()) as { error?: { code?: string } }).error?.code };
    });
    await app.heldArrived;
    const cdp = await context.newCDPSession(tab);
    await cdp.send('ServiceWorker.enable');
    await cdp.send('ServiceWorker.stopAllWorkers');
    await cdp.detach();
    const result = await pending;
    app.release();
    expect(app.executions.get('p1')).toBe(1);
    // Chromium re-dispatched it to a new instance: the replay carried the same key and the
    // daemon refused it; or the browser failed it. Never a second run.
    expect([409, 502]).toContain(result.status);
  });

  it('relay restarted: the session comes back by itself', async () => {
    await stack.restartRelay();
    await waitForState(tab, 'active', 45_000);
    expect((await get(tab, '/sideband/api/hello?name=relay-back')).status).toBe(200);
  });

  it('daemon stopped: 503 daemon_offline and the status in every tab; started again: active without reload', async () => {
    const second = await openTab(context, stack.testPage);
    await stack.daemon.shutdown({ timeoutMs: 1000 });
    await Promise.all([waitForState(tab, 'offline', 45_000), waitForState(second, 'offline', 45_000)]);
    const res = await get(tab, '/sideband/api/hello');
    expect(res.status).toBe(503);
    expect(res.code).toBe('daemon_offline');
    expect(Number(res.retryAfter)).toBeGreaterThan(0);
    await stack.restartDaemon();
    await Promise.all([waitForState(tab, 'active', 45_000), waitForState(second, 'active', 45_000)]);
    expect((await get(second, '/sideband/api/hello?name=back')).json).toMatchObject({ hello: 'back' });
    await second.close();
  });

  it('daemon key replaced: identity_key_changed in every tab until one tab approves, then all work', async () => {
    const second = await openTab(context, stack.testPage);
    const pinned = (await status(tab)).fingerprint;
    await stack.daemon.shutdown({ timeoutMs: 1000 });
    await stack.restartDaemon(generateIdentity());
    const [changed] = await Promise.all([waitForState(tab, 'identity-changed', 45_000), waitForState(second, 'identity-changed', 45_000)]);
    expect(changed.fingerprint).toBe(pinned);
    expect(changed.offeredFingerprint).toMatch(/^SHA256:/);
    expect(changed.offeredFingerprint).not.toBe(pinned);
    const refused = await get(second, '/sideband/api/hello');
    expect(refused.code).toBe('identity_key_changed');
    await second.evaluate((fp) => (window as unknown as { sideband: { trust: { approve(f: string): Promise<unknown> } } }).sideband.trust.approve(fp), changed.offeredFingerprint as string);
    await Promise.all([waitForState(tab, 'active', 45_000), waitForState(second, 'active', 45_000)]);
    expect((await get(tab, '/sideband/api/hello?name=trusted')).json).toMatchObject({ hello: 'trusted' });
    expect((await status(second)).fingerprint).toBe(changed.offeredFingerprint);
    await second.close();
  });

  it('a revoked device gets needs-pairing with device_revoked and 403 answers', async () => {
    const deviceId = (await status(tab)).deviceId as string;
    await revokeDevice({ relay: stack.relay.url, apiKey: stack.apiKey, deviceId });
    const after = await waitForState(tab, 'needs-pairing', 45_000);
    expect(after.code).toBe('device_revoked');
    const res = await get(tab, '/sideband/api/hello');
    expect(res.status).toBe(403);
    expect(res.code).toBe('device_revoked');
  });
});
