/**
 * The product in headless Chromium (Debian's), each figure against a baseline measured in the
 * same run, rounds alternating ours and the baseline (median over rounds, min–max as spread):
 *
 *   small-request  100 B GET, sequential, timed in the page with performance.now():
 *                  fetch('/sideband/api/small') through the worker vs plain fetch('/plain/small')
 *                  to node:http on the page's own origin (A); sideband.call('/api/small') over the
 *                  MessagePort lane vs a hand-written WebSocket with JSON ids through a bare `ws`
 *                  forwarder to a `ws` echo daemon, no encryption, no worker (C).
 *   throughput     download / upload through the worker vs the AEAD ceiling of this browser (noble
 *                  ChaCha20-Poly1305 open of the daemon's 65 503 B pieces / seal of the worker's 16 KiB pieces, one thread, in the page); and
 *                  vs plain fetch to node:http, for context.
 *   concurrency    5 tabs × 50 concurrent small requests, total time vs the same to node:http
 *                  (report only); small-request p99 while another tab downloads vs idle p99.
 *   cold-start     CDP ServiceWorker.stopAllWorkers, then one fetch: time to its response head
 *                  (first byte) against a 100 ms budget.
 *
 * Playwright's DevTools network inspection stays on for the pages (baselines A and C included)
 * and is switched off for the service worker (browser-stack.ts), where it base64-encoded every
 * WebSocket frame of the session into a CDP event, a cost no user has. Where the time goes:
 * browser-profile.ts; what the browser's own WebSocket delivers: browser-websocket-floor.ts.
 *
 * Processes: relay, daemon, forwarder and echo daemon are child processes (browser-child.ts);
 * this process serves the page origin (built files + plain routes) and drives Chromium. The
 * relay runs with product defaults, rate limits included.
 *
 *   npx tsx bench/browser.bench.ts [--quick]      prints the figures as JSON
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CDPSession, Page } from 'playwright-core';
import { quantile, summarize, type BenchFigure, type BenchOptions } from './figure.js';
import { startBenchStack, type BenchStack } from './browser-stack.js';
import { FULL_FRAME_LIMITS, STREAM_DEFAULTS } from '../protocol/stream/stream-codes.js';

/** Calls window.bench[fn](...args) in the page. */
function inPage<T>(page: Page, fn: string, ...args: unknown[]): Promise<T> {
  return page.evaluate(
    ([name, list]) => (globalThis as unknown as { bench: Record<string, (...a: unknown[]) => Promise<unknown>> }).bench[name as string]!(...(list as unknown[])),
    [fn, args] as const,
  ) as Promise<T>;
}

const MiB = 2 ** 20;

interface Sizes {
  rounds: number;
  small: number;
  warmup: number;
  download: number;
  upload: number;
  aead: number;
  burstTabs: number;
  burstRequests: number;
  loadedDownload: number;
  loadedMax: number;
  coldSamples: number;
}

const FULL: Sizes = { rounds: 3, small: 2000, warmup: 50, download: 200 * MiB, upload: 50 * MiB, aead: 64 * MiB, burstTabs: 5, burstRequests: 50, loadedDownload: 200 * MiB, loadedMax: 2000, coldSamples: 5 };
const QUICK: Sizes = { rounds: 1, small: 50, warmup: 5, download: 4 * MiB, upload: 2 * MiB, aead: 4 * MiB, burstTabs: 5, burstRequests: 50, loadedDownload: 4 * MiB, loadedMax: 50, coldSamples: 2 };
/**
 * Payload sizes the session really ciphers, so each ceiling is measured on its own direction's
 * pieces: the daemon sends whole frames (FULL_FRAME_LIMITS, 65 503 bytes), which the worker
 * opens; the worker seals its own pieces of STREAM_DEFAULTS.maxChunk (16 KiB).
 */
const OPEN_CHUNK = FULL_FRAME_LIMITS.maxChunk;
const SEAL_CHUNK = STREAM_DEFAULTS.maxChunk;

/** One figure from per-round values (median, spread) and per-round baselines (median). */
function figure(fields: Omit<BenchFigure, 'value' | 'spread' | 'rounds' | 'baseline'>, values: number[], baseline?: { name: string; values: number[] }): BenchFigure {
  const { median, spread } = summarize(values);
  return {
    ...fields,
    value: round(median),
    spread: [round(spread[0]), round(spread[1])],
    rounds: values.length,
    ...(baseline && { baseline: { name: baseline.name, value: round(summarize(baseline.values).median) } }),
  };
}

const round = (x: number) => Math.round(x * 1000) / 1000;

async function smallRequests(tab: Page, stack: BenchStack, s: Sizes): Promise<BenchFigure[]> {
  await inPage(tab, 'openWs', stack.wsForwarderUrl);
  const p = { sw: [[], []], plain: [[], []], lane: [[], []], ws: [[], []] } as Record<string, [number[], number[]]>;
  for (let r = 0; r < s.rounds; r++) {
    const order = r % 2 === 0 ? ['plain', 'sw', 'ws', 'lane'] : ['sw', 'plain', 'lane', 'ws'];
    for (const kind of order) {
      const latencies = await inPage<number[]>(tab, 'small', kind, s.small, s.warmup);
      p[kind]![0].push(quantile(latencies, 0.5));
      p[kind]![1].push(quantile(latencies, 0.99));
    }
  }
  const n = `${s.small} sequential 100 B GETs`;
  return [
    figure({ id: 'small-request.browser-fetch.p50', group: 'small-request', name: `Chromium fetch('/sideband/…') → worker → relay → daemon, ${n}, p50`, unit: 'ms', target: { op: '<=', ratio: 1.5 } }, p.sw![0], { name: 'plain fetch to node:http, same origin (A)', values: p.plain![0] }),
    figure({ id: 'small-request.browser-fetch.p99', group: 'small-request', name: `Chromium fetch('/sideband/…') → worker → relay → daemon, ${n}, p99`, unit: 'ms', target: { op: '<=', ratio: 2 } }, p.sw![1], { name: 'plain fetch to node:http, same origin (A)', values: p.plain![1] }),
    figure({ id: 'small-request.browser-lane.p50', group: 'small-request', name: `Chromium sideband.call() → MessagePort lane → worker → relay → daemon, ${n}, p50`, unit: 'ms', target: { op: '<=', ratio: 2 }, note: 'DevTools network inspection (Playwright) is on for the page, so for C\'s WebSocket, and off for the worker\'s' }, p.lane![0], { name: 'page WebSocket, JSON ids, bare ws forwarder → ws echo daemon (C)', values: p.ws![0] }),
    figure({ id: 'small-request.browser-lane.p99', group: 'small-request', name: `Chromium sideband.call() → MessagePort lane → worker → relay → daemon, ${n}, p99`, unit: 'ms', note: 'report only' }, p.lane![1], { name: 'page WebSocket, JSON ids, bare ws forwarder → ws echo daemon (C)', values: p.ws![1] }),
  ];
}

async function throughput(tab: Page, s: Sizes): Promise<BenchFigure[]> {
  const v = { open: [], seal: [], swDown: [], plainDown: [], swUp: [], plainUp: [] } as Record<string, number[]>;
  for (let r = 0; r < s.rounds; r++) {
    const steps: [string, () => Promise<void>][] = [
      ['aead', async () => {
        v.open!.push((await inPage<{ seal: number; open: number }>(tab, 'aead', s.aead, OPEN_CHUNK)).open);
        v.seal!.push((await inPage<{ seal: number; open: number }>(tab, 'aead', s.aead, SEAL_CHUNK)).seal);
      }],
      ['swDown', async () => void v.swDown!.push(await inPage<number>(tab, 'download', 'sw', s.download, false))],
      ['plainDown', async () => void v.plainDown!.push(await inPage<number>(tab, 'download', 'plain', s.download, false))],
      ['swUp', async () => void v.swUp!.push(await inPage<number>(tab, 'upload', 'sw', s.upload))],
      ['plainUp', async () => void v.plainUp!.push(await inPage<number>(tab, 'upload', 'plain', s.upload))],
    ];
    if (r % 2 === 1) steps.reverse();
    for (const [, step] of steps) await step();
  }
  const down = `${s.download / MiB} MiB download`;
  const up = `${s.upload / MiB} MiB upload`;
  const mbps = 'MB/s';
  return [
    figure({ id: 'throughput.browser-download.vs-aead', group: 'throughput', name: `Chromium fetch('/sideband/…') ${down} through the worker`, unit: mbps, target: { op: '>=', ratio: 0.8 }, note: 'MB = 10^6 B; ceiling: noble ChaCha20-Poly1305 open of 65 503 B payloads (the daemon\'s DATA pieces) in the page; no DevTools network inspection on the worker (browser-stack.ts)' }, v.swDown!, { name: 'AEAD ceiling: noble open in this browser', values: v.open! }),
    figure({ id: 'throughput.browser-download.vs-plain', group: 'throughput', name: `Chromium fetch('/sideband/…') ${down} through the worker`, unit: mbps, note: 'context only' }, v.swDown!, { name: 'plain fetch download from node:http (A)', values: v.plainDown! }),
    figure({ id: 'throughput.browser-upload.vs-aead', group: 'throughput', name: `Chromium fetch('/sideband/…', POST) ${up} through the worker`, unit: mbps, note: 'report only; ceiling: noble ChaCha20-Poly1305 seal of 16 KiB payloads (the worker\'s DATA pieces) in the page' }, v.swUp!, { name: 'AEAD ceiling: noble seal in this browser', values: v.seal! }),
    figure({ id: 'throughput.browser-upload.vs-plain', group: 'throughput', name: `Chromium fetch('/sideband/…', POST) ${up} through the worker`, unit: mbps, note: 'context only' }, v.swUp!, { name: 'plain fetch upload to node:http (A)', values: v.plainUp! }),
  ];
}

async function concurrency(tabs: Page[], s: Sizes): Promise<BenchFigure[]> {
  const totals = { sw: [] as number[], plain: [] as number[] };
  const idle: number[] = [];
  const loaded: number[] = [];
  const counts: number[] = [];
  let cutShort = 0;
  for (let r = 0; r < s.rounds; r++) {
    for (const kind of r % 2 === 0 ? (['plain', 'sw'] as const) : (['sw', 'plain'] as const)) {
      const startAt = Date.now() + 300; // every tab starts its burst at this wall-clock time (timeOrigin-based in the page)
      const spans = await Promise.all(tabs.slice(0, s.burstTabs).map((tab) => inPage<{ start: number; end: number }>(tab, 'burst', kind, s.burstRequests, startAt)));
      totals[kind].push(Math.max(...spans.map((x) => x.end)) - Math.min(...spans.map((x) => x.start)));
    }
    // Under load first on even rounds, idle first on odd ones; idle takes as many samples as the loaded run got.
    const measureLoaded = async () => {
      const [probe, downloader] = [tabs[0]!, tabs[1]!];
      await new Promise((r) => setTimeout(r, 500));
      const during = inPage<{ latencies: number[]; endedByDownload: boolean }>(probe, 'smallDuring', 'sw', s.loadedMax);
      await probe.waitForFunction('window.benchListening === true', undefined, { polling: 20 });
      const download = inPage<number>(downloader, 'download', 'sw', s.loadedDownload, true);
      const result = await during;
      await download;
      if (!result.endedByDownload) cutShort++;
      loaded.push(quantile(result.latencies, 0.99));
      counts.push(result.latencies.length);
    };
    const measureIdle = async () => {
      const n = Math.max(50, counts.at(-1) ?? s.loadedMax);
      await new Promise((r) => setTimeout(r, 500)); // let the previous step's garbage and queues settle
      idle.push(quantile(await inPage<number[]>(tabs[0]!, 'small', 'sw', n, s.warmup), 0.99));
    };
    if (r % 2 === 0) {
      await measureLoaded();
      await measureIdle();
    } else {
      await measureIdle();
      await measureLoaded();
    }
  }
  const sampleNote = `${Math.min(...counts)}–${Math.max(...counts)} requests per round during the download${cutShort ? `; ${cutShort} round(s) hit the ${s.loadedMax}-request cap before the download ended` : ''}`;
  return [
    figure({ id: 'concurrency.browser-burst', group: 'concurrency', name: `${s.burstTabs} tabs × ${s.burstRequests} concurrent 100 B fetch('/sideband/…'), total time`, unit: 'ms', note: 'report only; the plain baseline is HTTP/1.1 (6 connections per origin)' }, totals.sw, { name: 'the same to node:http (A)', values: totals.plain }),
    figure({ id: 'concurrency.browser-loaded-p99', group: 'concurrency', name: `100 B fetch('/sideband/…') p99 while another tab downloads ${s.loadedDownload / MiB} MiB through the worker`, unit: 'ms', target: { op: '<=', ratio: 3 }, note: sampleNote }, loaded, { name: 'idle p99, same tab, same count', values: idle }),
  ];
}

/** Waits until every service worker version the CDP session knows reports `stopped`. */
async function stopWorkers(cdp: CDPSession, running: Map<string, string>): Promise<boolean> {
  await cdp.send('ServiceWorker.stopAllWorkers');
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline) {
    if ([...running.values()].every((status) => status === 'stopped')) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

async function coldStart(tab: Page, stack: BenchStack, s: Sizes): Promise<BenchFigure[]> {
  const cdp = await stack.context.newCDPSession(tab);
  const running = new Map<string, string>();
  cdp.on('ServiceWorker.workerVersionUpdated', ({ versions }) => {
    for (const version of versions) running.set(version.versionId, version.runningStatus);
  });
  await cdp.send('ServiceWorker.enable');
  const heads: number[] = [];
  let unconfirmed = 0;
  for (let r = 0; r < s.rounds; r++) {
    const samples: number[] = [];
    for (let i = 0; i < s.coldSamples; i++) {
      if (!(await stopWorkers(cdp, running))) unconfirmed++;
      samples.push((await inPage<{ head: number; total: number }>(tab, 'firstByte')).head);
      // Back to warm before the next stop: the session is up and a request went through.
      await tab.waitForFunction(`window.sideband.status.state === 'active'`, undefined, { polling: 50, timeout: 30_000 }).catch(() => {});
      await inPage(tab, 'small', 'sw', 5, 0);
      await new Promise((r) => setTimeout(r, 300));
    }
    heads.push(summarize(samples).median);
  }
  await cdp.detach();
  const note = `median of ${s.coldSamples} cold fetches per round; time from fetch() to its response head${unconfirmed ? `; ${unconfirmed} stop(s) not confirmed by CDP runningStatus` : '; every stop confirmed by CDP runningStatus'}`;
  return [
    {
      ...figure({ id: 'cold-start.browser-first-byte', group: 'cold-start', name: `Stopped service worker (CDP stopAllWorkers) → first response byte of the next fetch('/sideband/…')`, unit: 'ms', target: { op: '<=', ratio: 1 }, note }, heads),
      baseline: { name: '100 ms budget', value: 100 },
    },
  ];
}

export async function browserBenchmarks(opts: BenchOptions): Promise<BenchFigure[]> {
  const s = opts.quick ? QUICK : FULL;
  const stack = await startBenchStack();
  try {
    const tab = await stack.openTab();
    await stack.pair(tab);
    const figures: BenchFigure[] = [];
    figures.push(...(await smallRequests(tab, stack, s)));
    figures.push(...(await throughput(tab, s)));
    const others = [];
    for (let i = 1; i < s.burstTabs; i++) others.push(await stack.openTab());
    for (const other of others) await other.waitForFunction(`window.sideband.status.state === 'active'`, undefined, { polling: 50, timeout: 30_000 });
    figures.push(...(await concurrency([tab, ...others], s)));
    for (const other of others) await other.close();
    figures.push(...(await coldStart(tab, stack, s)));
    return figures;
  } finally {
    await stack.close();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  const figures = await browserBenchmarks({ quick: process.argv.includes('--quick') });
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
  process.stderr.write(`browser bench: ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
}
