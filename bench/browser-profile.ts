/**
 * Where the browser path spends its time: the bench stack (browser-stack.ts) with an
 * UNMINIFIED worker, the CDP sampling profiler on the service worker target and on the page
 * while one scenario runs, then self time per function, with idle, GC and program time apart.
 * Not part of `npm run bench` (profiling slows what it measures); a tool for finding the cost.
 *
 *   npx tsx bench/browser-profile.ts download [MiB]   one fetch('/sideband/…') download
 *   npx tsx bench/browser-profile.ts upload [MiB]     one fetch('/sideband/…', POST) streamed upload
 *   npx tsx bench/browser-profile.ts loaded [MiB]     small fetches in one tab while another downloads
 *   npx tsx bench/browser-profile.ts ratio [MiB]      the same, then as many idle: the bench's loaded/idle p99 (use --cpu)
 *   npx tsx bench/browser-profile.ts lane [count]     sequential sideband.call()
 *   npx tsx bench/browser-profile.ts fetch [count]    sequential small fetch('/sideband/…')
 *
 * Add `--json DIR` to keep the raw .cpuprofile files (open them in DevTools), or `--cpu` to run
 * without the profiler and print the CPU time of every process of the machine instead (which
 * process is the bottleneck on 2 cores).
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, CDPSession, Page } from 'playwright-core';
import { startBenchStack } from './browser-stack.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** A CDP session on the service worker target (Playwright gives none for workers: go through the browser). */
async function attachWorker(browser: Browser): Promise<{ send: (method: string, params?: object) => Promise<unknown>; detach: () => Promise<void> }> {
  const cdp = await browser.newBrowserCDPSession();
  const { targetInfos } = await cdp.send('Target.getTargets');
  const target = targetInfos.find((t) => t.type === 'service_worker');
  if (!target) throw new Error('no service worker target');
  const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: target.targetId, flatten: false });
  let next = 1;
  const waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  cdp.on('Target.receivedMessageFromTarget', (event) => {
    if (event.sessionId !== sessionId) return;
    const message = JSON.parse(event.message) as { id?: number; result?: unknown; error?: { message: string } };
    const waiter = message.id === undefined ? undefined : waiting.get(message.id);
    if (!waiter) return;
    waiting.delete(message.id!);
    if (message.error) waiter.reject(new Error(message.error.message));
    else waiter.resolve(message.result);
  });
  return {
    send: (method, params = {}) =>
      new Promise((resolve, reject) => {
        const id = next++;
        waiting.set(id, { resolve, reject });
        void cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method, params }) }).catch(reject);
      }),
    detach: async () => {
      await cdp.send('Target.detachFromTarget', { sessionId }).catch(() => {});
      await cdp.detach();
    },
  };
}

/** CPU seconds (user + system) per process, by pid, with a short name. */
async function cpuByProcess(): Promise<Map<number, { name: string; seconds: number }>> {
  const out = new Map<number, { name: string; seconds: number }>();
  const ticks = 100; // USER_HZ on Linux
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmd = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0');
      const type = cmd.find((part) => part.startsWith('--type='))?.slice(7);
      const name = type ? `chromium ${type}${cmd.find((part) => part.startsWith('--utility-sub-type='))?.replace('--utility-sub-type=', ' ') ?? ''}` : cmd.slice(0, 5).join(' ').slice(0, 120);
      out.set(Number(entry), { name, seconds: (Number(fields[11]) + Number(fields[12])) / ticks });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function printCpu(before: Map<number, { name: string; seconds: number }>, after: Map<number, { name: string; seconds: number }>, wallMs: number): void {
  const rows = [...after].map(([pid, { name, seconds }]) => [pid, name, seconds - (before.get(pid)?.seconds ?? 0)] as const).filter((row) => row[2] > 0.05);
  rows.sort((a, b) => b[2] - a[2]);
  const total = rows.reduce((sum, row) => sum + row[2], 0);
  console.log(`\n== CPU over ${(wallMs / 1000).toFixed(1)} s wall: ${total.toFixed(1)} CPU s (${((total / (wallMs / 1000)) * 100).toFixed(0)}% of one core)`);
  for (const [pid, name, seconds] of rows) console.log(`${((seconds / (wallMs / 1000)) * 100).toFixed(0).padStart(4)}%  ${seconds.toFixed(2).padStart(6)} s  ${pid} ${name}`);
}

/** Self time per function, in ms, largest first; `(idle)`, `(garbage collector)`, `(program)` as they come. */
function selfTimes(profile: Profile): { total: number; rows: [string, number][] } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<string, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const node = byId.get(samples[i]!);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.split('/').pop() ?? '';
    const key = url ? `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}` : functionName;
    // A sample's time is the gap to the next one.
    self.set(key, (self.get(key) ?? 0) + (deltas[i + 1] ?? 0) / 1000);
  }
  const total = (profile.endTime - profile.startTime) / 1000;
  return { total, rows: [...self].sort((a, b) => b[1] - a[1]) };
}

function print(title: string, profile: Profile, top = 40): void {
  const { total, rows } = selfTimes(profile);
  console.log(`\n== ${title}: ${total.toFixed(0)} ms profiled`);
  for (const [name, ms] of rows.slice(0, top)) console.log(`${((ms / total) * 100).toFixed(1).padStart(5)}%  ${ms.toFixed(0).padStart(6)} ms  ${name}`);
}

/** p10 … max of sorted latencies: a high p50 is queueing behind the download, a high tail alone is stalls. */
function quantiles(sorted: number[]): string {
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!.toFixed(2);
  return `p10 ${at(0.1)} ms, p50 ${at(0.5)} ms, p90 ${at(0.9)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`;
}

async function pageProfiler(page: Page): Promise<CDPSession> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  return cdp;
}

const args = process.argv.slice(2);
const scenario = args[0] ?? 'download';
const amount = Number(args[1] ?? NaN);
const jsonDir = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined;
const cpuOnly = args.includes('--cpu');

const stack = await startBenchStack({ minify: false });
try {
  const tab = await stack.openTab();
  await stack.pair(tab);
  const other = scenario === 'loaded' || scenario === 'ratio' ? await stack.openTab() : undefined;
  if (other) await other.waitForFunction(`window.sideband.status.state === 'active'`, undefined, { polling: 50, timeout: 30_000 });
  const call = <T>(page: Page, fn: string, ...list: unknown[]) =>
    page.evaluate(([name, rest]) => (globalThis as unknown as { bench: Record<string, (...a: unknown[]) => Promise<unknown>> }).bench[name as string]!(...(rest as unknown[])), [fn, list] as const) as Promise<T>;
  // Warm both paths (JIT) before the clock.
  await call(tab, 'small', 'sw', 50, 0);
  await call(tab, 'small', 'lane', 50, 0);
  await call(tab, 'download', 'sw', 8 * 2 ** 20, false);

  const worker = cpuOnly ? undefined : await attachWorker(stack.browser);
  const page = cpuOnly ? undefined : await pageProfiler(tab);
  await worker?.send('Profiler.enable');
  await worker?.send('Profiler.setSamplingInterval', { interval: 200 });
  await worker?.send('Profiler.start');
  await page?.send('Profiler.start');
  const cpuBefore = await cpuByProcess();
  const started = performance.now();
  let result: unknown;
  switch (scenario) {
    case 'download':
      result = `${(await call<number>(tab, 'download', 'sw', (Number.isFinite(amount) ? amount : 200) * 2 ** 20, false)).toFixed(1)} MB/s`;
      break;
    case 'upload':
      result = `${(await call<number>(tab, 'upload', 'sw', (Number.isFinite(amount) ? amount : 50) * 2 ** 20)).toFixed(1)} MB/s`;
      break;
    case 'lane':
    case 'fetch': {
      const latencies = await call<number[]>(tab, 'small', scenario === 'lane' ? 'lane' : 'sw', Number.isFinite(amount) ? amount : 2000, 0);
      latencies.sort((a, b) => a - b);
      result = quantiles(latencies);
      break;
    }
    case 'loaded': {
      const during = call<{ latencies: number[] }>(tab, 'smallDuring', 'sw', 5000);
      await tab.waitForFunction('window.benchListening === true', undefined, { polling: 20 });
      const speed = await call<number>(other!, 'download', 'sw', (Number.isFinite(amount) ? amount : 200) * 2 ** 20, true);
      const latencies = (await during).latencies.sort((a, b) => a - b);
      result = `download ${speed.toFixed(1)} MB/s; ${latencies.length} small: ${quantiles(latencies)}`;
      break;
    }
    case 'ratio': {
      // The bench's loaded figure in one go: small requests during the download, then as many idle.
      const during = call<{ latencies: number[] }>(tab, 'smallDuring', 'sw', 5000);
      await tab.waitForFunction('window.benchListening === true', undefined, { polling: 20 });
      const speed = await call<number>(other!, 'download', 'sw', (Number.isFinite(amount) ? amount : 200) * 2 ** 20, true);
      const inOrder = (await during).latencies;
      const loaded = [...inOrder].sort((a, b) => a - b);
      // Where in the download the slowest 2% fell (0: its start, 1: its end): clustered at the start is the window before sharing began.
      const cut = loaded[Math.floor(loaded.length * 0.98)]!;
      console.log(`slowest 2% at: ${inOrder.flatMap((ms, i) => (ms >= cut ? [`${(i / inOrder.length).toFixed(2)}:${ms.toFixed(0)}ms`] : [])).join(' ')}`);
      await new Promise((r) => setTimeout(r, 500));
      const idle = (await call<number[]>(tab, 'small', 'sw', loaded.length, 50)).sort((a, b) => a - b);
      const p99 = (sorted: number[]) => sorted[Math.floor(sorted.length * 0.99)]!;
      result = `download ${speed.toFixed(1)} MB/s; ${loaded.length} small, loaded: ${quantiles(loaded)}; idle: ${quantiles(idle)}; p99 ratio ${(p99(loaded) / p99(idle)).toFixed(2)}`;
      break;
    }
    default:
      throw new Error(`unknown scenario ${scenario}`);
  }
  const wall = performance.now() - started;
  const cpuAfter = await cpuByProcess();
  console.log(`${scenario}: ${String(result)} (${wall.toFixed(0)} ms wall)`);
  printCpu(cpuBefore, cpuAfter, wall);
  if (worker && page) {
    const { profile: workerProfile } = (await worker.send('Profiler.stop')) as { profile: Profile };
    const { profile: pageProfile } = await page.send('Profiler.stop');
    print('service worker', workerProfile);
    print('page', pageProfile as Profile, 15);
    if (jsonDir) {
      await writeFile(join(jsonDir, `${scenario}-worker.cpuprofile`), JSON.stringify(workerProfile));
      await writeFile(join(jsonDir, `${scenario}-page.cpuprofile`), JSON.stringify(pageProfile));
    }
    await worker.detach();
  }
} finally {
  await stack.close();
}
