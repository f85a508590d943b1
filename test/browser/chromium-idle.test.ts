/**
 * The browser's own idle stop of the service worker, in real headless Chromium with NO debugging
 * connection of any kind (service-worker.md "Lifetime": an attached DevTools/CDP session keeps
 * the worker alive, so playwright and puppeteer cannot observe this). Chromium runs as a plain
 * child process given a URL; the page drives itself and POSTs its findings to a small report
 * server here. Two browsers, two stacks, two origins, run side by side:
 *
 * - A: the page never heartbeats (heartbeatMs 10 min). Its worker must be stopped by the browser
 *   (~30 s after its last event; a new boot id proves it), and the next `fetch('/sideband/…')`
 *   must still work: the worker comes back and rebuilds its relay session.
 * - B: the page heartbeats every 10 s. Its worker (same boot id) and its session (no new relay
 *   connection, no session closed at the daemon) must outlive the time A's worker was stopped.
 *
 * When each page goes on after the quiet spell is decided here from events: A's worker stop is
 * seen as the daemon's `session_closed` (the stopped worker's socket closes; the relay tells the
 * daemon at once, relay/session-router.ts clientLeft), answered to A's long-polled `/go`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, startBrowserStack, type BrowserStack } from './browser-fixture.js';
import { testWebRoot } from './test-web-root.js';
import { testApp } from './test-app.js';

/** A's page never beats during the test: its worker gets no event after the first hello. */
const NO_HEARTBEAT_MS = 600_000;
/** B's page beats well inside the ~30 s idle stop. */
const HEARTBEAT_MS = 10_000;
/** B stays quiet (heartbeats only) at least this long, and at least this past A's observed stop. */
const B_MIN_QUIET_MS = 45_000;
const B_PAST_A_STOP_MS = 10_000;
/** After A's stop is seen, its next request comes a moment later: after the stop, not racing it. */
const A_SETTLE_MS = 2_000;
/** If A's worker is never stopped, A goes on anyway after this (and the test fails on its boot id). */
const A_GIVE_UP_MS = 100_000;
/** How long after its start the test waits for both pages' reports (its own timeout is 180 s). */
const REPORT_TIMEOUT_MS = 150_000;

const PAGE_NAME = `idle-${randomUUID()}.html`;

/**
 * The self-driving page: registers, pairs with the code from its URL, says hello, reports
 * `ready`, long-polls `/go`, then fetches again and reports the boot ids before and after.
 * Plain JS (the browser runs it as is).
 */
const PAGE_HTML = `<!doctype html><meta charset="utf-8"><title>sideband idle test</title>
<script type="module">
const q = new URLSearchParams(location.search);
const id = q.get('id');
const report = q.get('report');
const post = (kind, data) => fetch(report + '/' + kind + '?id=' + id, { method: 'POST', body: JSON.stringify(data) });
/** Progress for a failure message; never sent while the page must stay quiet. */
const step = (name) => void post('step', { name }).catch(() => {});
step('script');
const statuses = [];
async function get(name) {
  const at = Date.now();
  const res = await fetch('/sideband/api/hello?name=' + name);
  const body = await res.text();
  return { at, ms: Date.now() - at, status: res.status, code: res.headers.get('sideband-error'), body };
}
/** A hello straight to the controller, bypassing the page library: the worker's own boot id. */
function rawHello() {
  return new Promise((resolve, reject) => {
    const { port1, port2 } = new MessageChannel();
    const timer = setTimeout(() => reject(new Error('raw hello: no reply within 10 s')), 10000);
    port1.onmessage = (event) => {
      clearTimeout(timer);
      port1.close();
      resolve(event.data);
    };
    navigator.serviceWorker.controller.postMessage({ v: 1, type: 'hello', port: port2 }, [port2]);
  });
}
try {
  const { registerSideband } = await import('/sideband-page.js');
  const sideband = await registerSideband({ relay: q.get('relay'), heartbeatMs: Number(q.get('heartbeatMs')) });
  sideband.on('status', (s) => statuses.push({ at: Date.now(), state: s.state, code: s.code, bootId: s.bootId }));
  const active = new Promise((resolve) => {
    if (sideband.status.state === 'active') return resolve();
    const off = sideband.on('status', (s) => s.state === 'active' && (off(), resolve()));
  });
  step('registered');
  await sideband.pair(q.get('code'));
  step('paired');
  await active;
  step('active');
  const before = await get('before');
  const rawBefore = await rawHello();
  const bootBefore = sideband.status.bootId;
  const quietFrom = Date.now();
  await post('ready', { at: quietFrom, visibility: document.visibilityState });
  await (await fetch(report + '/go?id=' + id)).text();
  step('go');
  const after = await get('after');
  step('after ' + after.status);
  const rawAfter = await rawHello();
  step('raw hello');
  const call = await sideband.call('/api/hello?name=call');
  step('call ' + call.status);
  await post('result', {
    quietFrom,
    visibility: document.visibilityState,
    before,
    after,
    call: { status: call.status, body: await call.text() },
    bootBefore,
    rawBootBefore: rawBefore.status && rawBefore.status.bootId,
    rawBootAfter: rawAfter.status && rawAfter.status.bootId,
    libraryBootAfter: sideband.status.bootId,
    stateAfter: sideband.status.state,
    statuses,
  });
} catch (error) {
  await post('result', { error: String(error && error.stack || error), code: error && error.code, statuses });
}
</script>
`;

interface Fetched {
  at: number;
  ms: number;
  status: number;
  code: string | null;
  body: string;
}

interface PageResult {
  error?: string;
  code?: string;
  quietFrom: number;
  visibility: string;
  before: Fetched;
  after: Fetched;
  call: { status: number; body: string };
  bootBefore: string;
  rawBootBefore: string;
  rawBootAfter: string;
  libraryBootAfter: string;
  stateAfter: string;
  statuses: { at: number; state: string; code?: string; bootId: string }[];
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** One page's side of the test: its stack, its browser, what it reported and what the daemon saw. */
interface Probe {
  id: 'A' | 'B';
  stack: BrowserStack;
  ready: ReturnType<typeof deferred<{ at: number; visibility: string; receivedAt: number }>>;
  result: ReturnType<typeof deferred<PageResult>>;
  go: ReturnType<typeof deferred<number>>;
  /** Daemon session events, Node clock. */
  sessions: { type: 'open' | 'closed'; at: number; reason?: string }[];
  /** What the report server heard from the page, Node clock. */
  steps: { name: string; at: number }[];
  /** First session_closed after the page reported ready: the worker's socket closed. */
  closedAfterReady: ReturnType<typeof deferred<number>>;
  acceptedAtReady?: number;
  browser?: ChildProcess;
  exited?: Promise<void>;
  userDataDir?: string;
  /** The tail of Chromium's stderr, for a failure message. */
  log: string[];
}

const timers = new Set<ReturnType<typeof setTimeout>>();
/** Resolves at epoch ms `time` (a deadline, not a wait for something to happen). */
function at(time: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      resolve();
    }, Math.max(0, time - Date.now()));
    timers.add(timer);
  });
}

let reportServer: Server;
let reportUrl: string;
const probes: Probe[] = [];
const byId = new Map<string, Probe>();

function accepted(stack: BrowserStack): number {
  return Number(/sbrp_relay_connections_accepted_total (\d+)/.exec(stack.relay.metrics.render())?.[1] ?? NaN);
}

async function handleReport(req: IncomingMessage, res: ServerResponse): Promise<void> {
  // The page's origin differs from ours: plain text POSTs and a GET need no preflight, only this.
  res.setHeader('Access-Control-Allow-Origin', '*');
  const url = new URL(req.url ?? '/', 'http://report.invalid');
  const probe = byId.get(url.searchParams.get('id') ?? '');
  if (!probe) {
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks).toString('utf8');
  switch (`${req.method} ${url.pathname}`) {
    case 'POST /step':
      probe.steps.push({ name: (JSON.parse(body) as { name: string }).name, at: Date.now() });
      res.writeHead(204).end();
      return;
    case 'POST /ready':
      probe.steps.push({ name: 'ready', at: Date.now() });
      probe.acceptedAtReady = accepted(probe.stack);
      probe.ready.resolve({ ...(JSON.parse(body) as { at: number; visibility: string }), receivedAt: Date.now() });
      res.writeHead(204).end();
      return;
    case 'POST /result':
      probe.steps.push({ name: 'result', at: Date.now() });
      probe.result.resolve(JSON.parse(body) as PageResult);
      res.writeHead(204).end();
      return;
    case 'GET /go':
      probe.steps.push({ name: 'waiting for go', at: Date.now() });
      await probe.go.promise;
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('go');
      return;
    default:
      res.writeHead(404).end();
  }
}

function makeProbe(id: 'A' | 'B', stack: BrowserStack): Probe {
  const probe: Probe = { id, stack, ready: deferred(), result: deferred(), go: deferred(), sessions: [], steps: [], closedAfterReady: deferred(), log: [] };
  let readyAt: number | undefined;
  void probe.ready.promise.then((r) => (readyAt = r.receivedAt));
  stack.daemon.on('session_open', () => probe.sessions.push({ type: 'open', at: Date.now() }));
  stack.daemon.on('session_closed', ({ reason }) => {
    const now = Date.now();
    probe.sessions.push({ type: 'closed', at: now, reason });
    if (readyAt !== undefined) probe.closedAfterReady.resolve(now);
  });
  byId.set(id, probe);
  probes.push(probe);
  return probe;
}

/** Headless Chromium as a plain process: a URL on the command line, no --remote-debugging-*. */
async function launch(probe: Probe, url: string): Promise<void> {
  probe.userDataDir = await mkdtemp(join(tmpdir(), 'sideband-idle-chromium-'));
  const args = [
    '--headless=new',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--disable-background-networking',
    '--disable-component-update',
    '--no-first-run',
    '--disable-sync',
    '--disable-quic',
    '--enable-logging=stderr',
    `--user-data-dir=${probe.userDataDir}`,
    url,
  ];
  expect(args.some((arg) => arg.includes('remote-debugging'))).toBe(false);
  // detached: its own process group (Debian's wrapper script execs the browser, whose zygote,
  // GPU, network and renderer processes stay in that group), so afterAll ends them all at once.
  const child = spawn(CHROMIUM, args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  probe.browser = child;
  probe.exited = new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (error) => {
      probe.log.push(`spawn ${CHROMIUM} failed: ${error.message}\n`);
      resolve();
    });
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    if (process.env.SIDEBAND_BROWSER_LOG) process.stderr.write(`[chromium ${probe.id}] ${text}`);
    probe.log.push(text);
    if (probe.log.length > 200) probe.log.shift();
  });
}

async function kill(probe: Probe): Promise<void> {
  const child = probe.browser;
  if (!child?.pid) return;
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // the group is gone already
    }
  };
  signalGroup('SIGTERM');
  await Promise.race([probe.exited, at(Date.now() + 5_000)]);
  // The wrapper may have exited before its children: the group gets KILL regardless.
  signalGroup('SIGKILL');
  await probe.exited;
}

/** What the page and the daemon did, in order, for a failure message. */
function timeline(probe: Probe, since: number): string {
  const events = [...probe.steps.map((e) => ({ at: e.at - since, page: e.name })), ...probe.sessions.map((e) => ({ at: e.at - since, daemon: e.type, reason: e.reason }))].sort((x, y) => x.at - y.at);
  return `${JSON.stringify(events)}; chromium exit ${String(probe.browser?.exitCode)}, stderr tail:\n${probe.log.join('').slice(-4000)}`;
}

/** Waits for `promise`, failing with `what` and the probe's timeline `ms` after `started`. */
async function within<T>(promise: Promise<T>, started: number, ms: number, what: string, probe: Probe): Promise<T> {
  const expired = at(started + ms).then(() => {
    throw new Error(`${what}: nothing within ${ms} ms of the test's start; ${timeline(probe, started)}`);
  });
  return Promise.race([promise, expired]);
}

beforeAll(async () => {
  reportServer = createServer((req, res) => {
    handleReport(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => reportServer.listen(0, '127.0.0.1', resolve));
  reportUrl = `http://127.0.0.1:${(reportServer.address() as AddressInfo).port}`;
  await writeFile(join(testWebRoot(), PAGE_NAME), PAGE_HTML);
  // Two stacks = two web origins: one origin's worker is shared by its tabs, so B's heartbeat
  // would keep A's worker alive; two browser processes with their own profiles, likewise.
  const [stackA, stackB] = await Promise.all([startBrowserStack({ fetch: testApp().fetch }), startBrowserStack({ fetch: testApp().fetch })]);
  makeProbe('A', stackA);
  makeProbe('B', stackB);
});

afterAll(async () => {
  for (const probe of probes) probe.go.resolve(Date.now()); // release long-polls
  await Promise.all(probes.map((probe) => kill(probe)));
  for (const timer of timers) clearTimeout(timer);
  timers.clear();
  await new Promise<void>((resolve) => {
    reportServer?.close(() => resolve());
    reportServer?.closeAllConnections();
  });
  await Promise.all(probes.map((probe) => probe.stack.close()));
  await Promise.all(probes.map((probe) => (probe.userDataDir ? rm(probe.userDataDir, { recursive: true, force: true }) : undefined)));
  await rm(join(testWebRoot(), PAGE_NAME), { force: true });
});

describe('Chromium without a debugger: the browser stops an idle worker', () => {
  it(
    'a worker stopped by the browser comes back on the next /sideband/ request; a heartbeating tab keeps its worker and session',
    async ({ onTestFailed }) => {
      const [a, b] = probes as [Probe, Probe];
      const started = Date.now();
      onTestFailed(() => {
        for (const probe of probes) process.stderr.write(`[idle] ${probe.id} timeline (ms since test start): ${timeline(probe, started)}\n`);
      });
      for (const [probe, heartbeatMs] of [
        [a, NO_HEARTBEAT_MS],
        [b, HEARTBEAT_MS],
      ] as const) {
        const query = new URLSearchParams({ id: probe.id, relay: probe.stack.relay.url, code: await probe.stack.pairCode(), heartbeatMs: String(heartbeatMs), report: reportUrl });
        await launch(probe, `${probe.stack.webUrl}/${PAGE_NAME}?${query}`);
      }

      // A goes on shortly after its worker's socket closed (or gives up: then its boot id fails below).
      void a.ready.promise.then(async ({ receivedAt }) => {
        const stopped = await Promise.race([a.closedAfterReady.promise, at(receivedAt + A_GIVE_UP_MS).then(() => undefined)]);
        await at((stopped ?? Date.now()) + A_SETTLE_MS);
        a.go.resolve(Date.now());
      });
      // A that failed early reports without waiting: let B go on rather than hang on A's stop.
      void a.result.promise.then(() => a.go.resolve(Date.now()));
      // B stays quiet (heartbeats only) for its minimum, and past A's stop with margin.
      void Promise.all([b.ready.promise, a.go.promise]).then(async ([{ receivedAt }]) => {
        const aStop = await Promise.race([a.closedAfterReady.promise, Promise.resolve(undefined)]);
        await at(Math.max(receivedAt + B_MIN_QUIET_MS, (aStop ?? Date.now()) + B_PAST_A_STOP_MS));
        b.go.resolve(Date.now());
      });

      const [resultA, resultB] = await Promise.all([within(a.result.promise, started, REPORT_TIMEOUT_MS, 'report A', a), within(b.result.promise, started, REPORT_TIMEOUT_MS, 'report B', b)]);
      const readyA = await a.ready.promise;
      const readyB = await b.ready.promise;
      const aClosedAt = await Promise.race([a.closedAfterReady.promise, Promise.resolve(undefined)]);
      const idleStopMs = aClosedAt === undefined ? undefined : aClosedAt - resultA.quietFrom;
      const quietB = (await b.go.promise) - resultB.quietFrom;
      process.stdout.write(
        `[idle] A: worker socket closed ${idleStopMs ?? 'never'} ms after the page's last message to it; ` +
          `boot ${resultA.rawBootBefore} -> ${resultA.rawBootAfter}; next fetch ${resultA.after.status} in ${resultA.after.ms} ms; ` +
          `sessions ${JSON.stringify(a.sessions.map((s) => ({ ...s, at: s.at - resultA.quietFrom })))}; page statuses ${JSON.stringify(resultA.statuses.map((s) => ({ ...s, at: s.at - resultA.quietFrom, bootId: s.bootId.slice(0, 8) })))}\n` +
          `[idle] B: quiet ${quietB} ms with ${HEARTBEAT_MS} ms heartbeats; boot ${resultB.rawBootBefore} -> ${resultB.rawBootAfter}; sessions ${JSON.stringify(b.sessions.map((s) => ({ ...s, at: s.at - resultB.quietFrom })))}\n`,
      );

      // No debugging connection existed: Chromium writes this file only with --remote-debugging-*.
      for (const probe of probes) expect(existsSync(join(probe.userDataDir!, 'DevToolsActivePort'))).toBe(false);
      expect(resultA.error).toBeUndefined();
      expect(resultB.error).toBeUndefined();
      // A visible page: Chrome's throttling of hidden tabs is not what is measured here.
      expect([readyA.visibility, readyB.visibility, resultA.visibility, resultB.visibility]).toEqual(['visible', 'visible', 'visible', 'visible']);

      // (a) A: the browser stopped the worker (a new instance answers), and the next request worked.
      expect(resultA.before.status).toBe(200);
      expect(resultA.rawBootBefore).toBe(resultA.bootBefore);
      expect(idleStopMs, 'the daemon saw A’s session close (the worker’s socket) while the page was quiet').toBeTypeOf('number');
      expect(resultA.rawBootAfter, 'A’s worker was stopped by the browser: a new boot id').not.toBe(resultA.rawBootBefore);
      expect(resultA.after.status).toBe(200);
      expect(JSON.parse(resultA.after.body)).toMatchObject({ hello: 'after' });
      expect(resultA.call.status).toBe(200);
      expect(JSON.parse(resultA.call.body)).toMatchObject({ hello: 'call' });
      // The page library noticed the new instance.
      expect(resultA.libraryBootAfter).toBe(resultA.rawBootAfter);
      expect(resultA.stateAfter).toBe('active');
      // The session was rebuilt: closed at the stop, then a new one over a new relay connection.
      const afterStop = a.sessions.filter((s) => s.at >= aClosedAt!);
      expect(afterStop.map((s) => s.type)).toEqual(['closed', 'open']);
      expect(accepted(a.stack)).toBe(a.acceptedAtReady! + 1);

      // (b) B: quiet longer than it took A's worker to be stopped, yet the same worker and session.
      expect(quietB).toBeGreaterThan(idleStopMs! + B_PAST_A_STOP_MS - 1_000);
      expect(resultB.before.status).toBe(200);
      expect(resultB.after.status).toBe(200);
      expect(JSON.parse(resultB.after.body)).toMatchObject({ hello: 'after' });
      expect(resultB.call.status).toBe(200);
      expect(resultB.rawBootBefore).toBe(resultB.bootBefore);
      expect(resultB.rawBootAfter, 'B’s heartbeat kept its worker alive: the same boot id').toBe(resultB.rawBootBefore);
      expect(resultB.libraryBootAfter).toBe(resultB.rawBootBefore);
      expect(b.sessions.filter((s) => s.type === 'closed')).toEqual([]);
      expect(b.sessions.filter((s) => s.type === 'open')).toHaveLength(1);
      expect(accepted(b.stack)).toBe(b.acceptedAtReady);
    },
    180_000,
  );
});
