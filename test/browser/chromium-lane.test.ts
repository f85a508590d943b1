/**
 * The MessagePort fast lane and the broadcast to tabs in real Chromium: `sideband.call()`,
 * a terminal-style channel over the lane (both directions, many messages, flow control by
 * acks), a refused channel, and daemon events arriving in every open tab.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTab, pairedChromium, pairTab, startBrowserStack, waitForState, type BrowserStack } from './browser-fixture.js';
import { testApp } from './test-app.js';

let browser: Browser;
let stack: BrowserStack;
let context: BrowserContext;
let tab: Page;

beforeAll(async () => {
  stack = await startBrowserStack({
    fetch: testApp().fetch,
    onChannel: {
      '/echo': async (channel) => {
        for await (const message of channel) await channel.send(typeof message === 'string' ? `echo:${message}` : message);
        channel.close();
      },
    },
  });
  ({ browser, context, tab } = await pairedChromium(stack));
});

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

type Sb = {
  call(path: string, init?: { method?: string; body?: BodyInit }): Promise<Response>;
  channel(path: string): Promise<{ send(d: string | ArrayBuffer): Promise<void>; close(): void; [Symbol.asyncIterator](): AsyncIterator<string | ArrayBuffer> }>;
  on(type: 'event', fn: (e: { name: string; data: unknown }) => void): () => void;
};

describe('Chromium: the MessagePort lane and events', () => {
  it('call() answers over the lane, bodies both ways intact', async () => {
    const result = await tab.evaluate(async () => {
      const sb = (window as unknown as { sideband: Sb }).sideband;
      const hello = await (await sb.call('/api/hello?name=lane')).json();
      const data = new Uint8Array(300_000).map((_, i) => i % 251);
      const upload = (await (await sb.call('/api/upload', { method: 'POST', body: data })).json()) as { bytes: number };
      return { hello, bytes: upload.bytes };
    });
    expect(result.hello).toMatchObject({ hello: 'lane' });
    expect(result.bytes).toBe(300_000);
  });

  it('a channel carries 500 messages each way in order (more than the ack window)', async () => {
    const got = await tab.evaluate(async () => {
      const sb = (window as unknown as { sideband: Sb }).sideband;
      const channel = await sb.channel('/echo');
      const sends = Array.from({ length: 500 }, (_, i) => channel.send(`m${i}`));
      const received: string[] = [];
      for await (const message of channel) {
        received.push(String(message));
        if (received.length === 500) break;
      }
      await Promise.all(sends);
      channel.close();
      return received;
    });
    expect(got).toEqual(Array.from({ length: 500 }, (_, i) => `echo:m${i}`));
  });

  it('a channel to a path nothing serves is refused with a code', async () => {
    const code = await tab.evaluate(async () => {
      try {
        await (window as unknown as { sideband: Sb }).sideband.channel('/nowhere');
        return 'opened';
      } catch (error) {
        return (error as { code?: string }).code;
      }
    });
    expect(code).toBe('channel_refused');
  });

  it('a page speaking another message-protocol version is refused loudly', async () => {
    const reply = await tab.evaluate(async () => {
      const { port1, port2 } = new MessageChannel();
      const answer = new Promise<{ ok: boolean; code?: string }>((resolve) => (port1.onmessage = (e) => resolve(e.data)));
      navigator.serviceWorker.controller!.postMessage({ v: 999, type: 'hello', port: port2 }, [port2]);
      return answer;
    });
    expect(reply).toMatchObject({ ok: false, code: 'version_mismatch' });
  });

  it('daemon events arrive in every open tab', async () => {
    const tabs = [tab, await openTab(context, stack.testPage), await openTab(context, stack.testPage)];
    const waiting = tabs.map((t) =>
      t.evaluate(
        () =>
          new Promise<unknown>((resolve) => {
            const off = (window as unknown as { sideband: Sb }).sideband.on('event', (e) => {
              if (e.name !== 'news') return;
              off();
              resolve(e.data);
            });
            (window as unknown as { listening: boolean }).listening = true;
          }),
      ),
    );
    for (const t of tabs) await t.waitForFunction(() => (window as unknown as { listening?: boolean }).listening, undefined, { polling: 50 });
    stack.daemon.publish('news', { n: 1 });
    expect(await Promise.all(waiting)).toEqual([{ n: 1 }, { n: 1 }, { n: 1 }]);
  });

  it('forget() deletes the pairing in every tab; the browser pairs again', async () => {
    const status = await tab.evaluate(() => (window as unknown as { sideband: { forget(): Promise<void>; status: { state: string } } }).sideband.forget().then(() => 0));
    expect(status).toBe(0);
    await waitForState(tab, 'needs-pairing');
    const res = await tab.evaluate(async () => (await fetch('/sideband/api/hello')).headers.get('sideband-error'));
    expect(res).toBe('not_paired');
    await pairTab(tab, stack);
    await waitForState(tab, 'active');
    expect(await tab.evaluate(async () => (await fetch('/sideband/api/hello?name=again')).status)).toBe(200);
  });
});
