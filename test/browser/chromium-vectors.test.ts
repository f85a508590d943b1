/**
 * Every known-answer vector (test/vectors/, ../shared/vectors/, $SBRP_VECTORS) through the
 * browser's build of the protocol code in real Chromium: noble, and native WebCrypto
 * ChaCha20-Poly1305 where this Chromium has it (156 does, 150 does not: the test prints which).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { launchChromium, startBrowserStack, type BrowserStack } from './browser-fixture.js';

const root = resolve(import.meta.dirname, '../..');
let browser: Browser;
let stack: BrowserStack;

beforeAll(async () => {
  stack = await startBrowserStack({ fetch: () => new Response('') });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

function vectorFiles(): Record<string, unknown> {
  const files: Record<string, unknown> = {};
  for (const dir of [join(root, 'test/vectors'), resolve(root, '../shared/vectors')]) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) if (name.endsWith('.json')) files[name] = JSON.parse(readFileSync(join(dir, name), 'utf8'));
  }
  for (const path of (process.env.SBRP_VECTORS ?? '').split(',').map((p) => p.trim()).filter(Boolean)) files[path] = JSON.parse(readFileSync(resolve(path), 'utf8'));
  return files;
}

it('every Data-frame vector seals and opens identically in the browser build', async () => {
  const files = vectorFiles();
  expect(Object.keys(files)).toContain('sbrp-public.json');
  const page = await browser.newPage();
  await page.goto(`${stack.webUrl}/test.html`);
  await page.addScriptTag({ url: '/vectors.js' });
  const report = await page.evaluate((f) => (globalThis as unknown as { runSbrpVectors(f: unknown): Promise<{ checked: number; native: boolean; failures: string[] }> }).runSbrpVectors(f), files);
  process.stdout.write(`[vectors] ${report.checked} Data vectors in Chromium; native ChaCha20-Poly1305: ${report.native ? 'yes (checked too)' : 'absent (noble only)'}\n`);
  expect(report.failures).toEqual([]);
  expect(report.checked).toBeGreaterThan(10);
});
