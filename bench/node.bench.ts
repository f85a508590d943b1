/**
 * The Node client end to end, against the floors it is built on. Relay and daemon run in child
 * processes of their own (bench/children/, test/helpers/relay-process.ts), the client in this
 * process, so no two endpoints share an event loop. Every path serves the same handler
 * (bench/handler.ts) from the same daemon child:
 *
 *   ours  Node client → relay child → daemon child (`listen()`), end-to-end encrypted
 *   A     undici fetch (Node's global fetch) → node:http server in the daemon child
 *   C     a hand-written WebSocket client with JSON ids → bare `ws` forwarder child → `ws`
 *         server in the daemon child (no encryption, no checks)
 *
 * Each section warms up, then runs its variants in alternating rounds and reports the median
 * over rounds with min and max (the spread).
 */
import type { WebSocket } from 'ws';
import { toBase64Url } from '../protocol/bytes.js';
import { ControlPlaneClient } from '../node/control-plane-client.js';
import { generateIdentity } from '../daemon/identity.js';
import { connect, type SidebandClient } from '../client/connect.js';
import { MemoryPinStore } from '../client/pin-store.js';
import { controlPlaneTokens } from '../client/session-token-source.js';
import { forkChild, type ChildHandle } from '../test/helpers/child-ipc.js';
import { RELAY_NODE_FLAGS } from '../relay/node-flags.js';
import { FAST_RECONNECT } from '../test/helpers/relay-fixture.js';
import { quantile, summarize, type BenchFigure, type BenchOptions } from './figure.js';
import { alternate } from './measure.js';
import { WsStreamClient } from './ws-stream-client.js';
import { firstByteMs, wsFirstByteMs } from './first-byte.js';
import { openWebSocket } from './open-web-socket.js';

/** The groups this module measures; `groups` picks some (bench/run.ts `--only`). */
export const NODE_GROUPS = ['small-request', 'throughput', 'concurrency', 'cold-start'] as const;
export type NodeGroup = (typeof NODE_GROUPS)[number];

export interface NodeBenchOptions extends BenchOptions {
  groups?: readonly NodeGroup[];
  /** Progress lines (default console.log). */
  log?: (line: string) => void;
}

/** Sizes and counts of a run; quick ones only keep the code path alive. */
export function nodeBenchPlan(quick: boolean) {
  return quick
    ? { rounds: 2, requests: 50, warmupRequests: 10, downloadBytes: 4e6, uploadBytes: 2e6, inFlight: 50, coldSamples: 2, restarts: 1 }
    : { rounds: 5, requests: 2000, warmupRequests: 200, downloadBytes: 200e6, uploadBytes: 50e6, inFlight: 1000, coldSamples: 10, restarts: 3 };
}

// The relay's per-connection message rates are a policy, not a cost: raised so the limiter
// does not cap a measurement (the relay bench does the same).
const RELAY_OPTIONS = { limits: { clientRate: { perSecond: 1e7, burst: 1e7 }, daemonRate: { perSecond: 1e7, burst: 1e7 } } };

interface Stack {
  relay: ChildHandle;
  daemon: ChildHandle;
  forwarder: ChildHandle;
  relayUrl: string;
  daemonId: string;
  apiKey: string;
  seed: string;
  httpUrl: string;
  daemonWsUrl: string;
  forwarderUrl: string;
  client: SidebandClient;
  newClient(): SidebandClient;
  close(): Promise<void>;
}

async function startStack(): Promise<Stack> {
  // The relay as `npm run relay` starts it; the daemon with Node's defaults, as in a user's process.
  const relay = forkChild('./relay-process.ts', RELAY_NODE_FLAGS);
  const daemon = forkChild('../../bench/children/daemon-child.ts');
  const forwarder = forkChild('../../bench/children/forwarder-child.ts');
  const children = [relay, daemon, forwarder];
  try {
    const started = await relay.call<{ url: string; adminKey: string }>('start', RELAY_OPTIONS);
    const identity = generateIdentity();
    const seed = toBase64Url(identity.seed);
    const { daemonId, apiKey } = await new ControlPlaneClient({ baseUrl: started.url }).registerDaemon(started.adminKey, { identityPublicKey: toBase64Url(identity.publicKey) });
    await daemon.call('listen', { relay: started.url, apiKey, seed });
    const { url: httpUrl } = await daemon.call<{ url: string }>('http');
    const { url: daemonWsUrl } = await daemon.call<{ url: string }>('ws');
    const { url: forwarderUrl } = await forwarder.call<{ url: string }>('start', { daemonUrl: daemonWsUrl });
    const newClient = () =>
      connect({
        relay: started.url,
        daemonId,
        getToken: controlPlaneTokens({ baseUrl: started.url, bearer: apiKey, daemonId }),
        pinStore: new MemoryPinStore(),
        reconnect: FAST_RECONNECT,
      });
    const client = newClient();
    await client.ready();
    const stack: Stack = {
      relay,
      daemon,
      forwarder,
      relayUrl: started.url,
      daemonId,
      apiKey,
      seed,
      httpUrl,
      daemonWsUrl,
      forwarderUrl,
      client,
      newClient,
      close: async () => {
        await stack.client.close();
        await Promise.all([stack.forwarder.stop(), stack.daemon.stop()]);
        await stack.relay.stop();
      },
    };
    return stack;
  } catch (error) {
    await Promise.all(children.map((child) => child.stop()));
    throw error;
  }
}

/** Baseline C's client: one WebSocket, JSON requests with ids, answers matched by id. */
class JsonWsClient {
  private nextId = 1;
  private readonly waiting = new Map<number, (answer: { status: number; body: string }) => void>();
  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data: Buffer) => {
      const answer = JSON.parse(data.toString()) as { id: number; status: number; body: string };
      const resolve = this.waiting.get(answer.id);
      this.waiting.delete(answer.id);
      resolve?.(answer);
    });
  }

  static async open(url: string): Promise<JsonWsClient> {
    return new JsonWsClient(await openWebSocket(url));
  }

  request(path: string, method = 'GET'): Promise<{ status: number; body: string }> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.socket.send(JSON.stringify({ id, method, path }));
    });
  }

  close(): void {
    this.socket.close();
  }
}

type Fetch = (path: string, init?: RequestInit) => Promise<Response>;

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`bench: ${what}`);
}

async function smallRequest(fetchOne: Fetch): Promise<void> {
  const res = await fetchOne('/small');
  const body = await res.text();
  check(res.status === 200 && body.length === 100, `small request answered ${res.status} with ${body.length} bytes`);
}

async function sequentialLatencies(one: () => Promise<void>, count: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await one();
    latencies.push(performance.now() - start);
  }
  return latencies;
}

async function drain(res: Response): Promise<number> {
  let length = 0;
  for await (const chunk of res.body!) length += chunk.byteLength;
  return length;
}

function uploadBody(size: number): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(64 * 1024).fill(3);
  let sent = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (sent >= size) return controller.close();
        const n = Math.min(chunk.length, size - sent);
        controller.enqueue(chunk.slice(0, n));
        sent += n;
      },
    },
    { highWaterMark: 0 },
  );
}

async function downloadMBps(fetchOne: Fetch, size: number): Promise<number> {
  const start = performance.now();
  const res = await fetchOne(`/bytes?size=${size}`);
  const length = await drain(res);
  const seconds = (performance.now() - start) / 1000;
  check(length === size, `download delivered ${length} of ${size} bytes`);
  return size / 1e6 / seconds;
}

async function uploadMBps(fetchOne: Fetch, size: number): Promise<number> {
  const start = performance.now();
  const res = await fetchOne('/sink', { method: 'POST', body: uploadBody(size), duplex: 'half' } as RequestInit);
  const { length } = (await res.json()) as { length: number };
  const seconds = (performance.now() - start) / 1000;
  check(length === size, `upload delivered ${length} of ${size} bytes`);
  return size / 1e6 / seconds;
}

async function concurrentMs(fetchOne: Fetch, count: number): Promise<number> {
  const start = performance.now();
  await Promise.all(Array.from({ length: count }, () => smallRequest(fetchOne)));
  return performance.now() - start;
}

function figure(
  base: Omit<BenchFigure, 'value' | 'spread' | 'rounds' | 'baseline'>,
  samples: number[],
  baseline?: { name: string; samples: number[] },
): BenchFigure {
  const { median, spread } = summarize(samples);
  return {
    ...base,
    value: median,
    spread,
    rounds: samples.length,
    ...(baseline ? { baseline: { name: baseline.name, value: summarize(baseline.samples).median } } : {}),
  };
}

const A_NAME = 'undici fetch → node:http';
const C_NAME = 'bare ws + JSON ids via forwarder';
const C_STREAM_NAME = 'bare ws via forwarder, no encryption (C)';

export async function nodeBenchmarks(options: NodeBenchOptions): Promise<BenchFigure[]> {
  const plan = nodeBenchPlan(options.quick);
  const groups = new Set<NodeGroup>(options.groups ?? NODE_GROUPS);
  const log = options.log ?? ((line: string) => console.log(line));
  const figures: BenchFigure[] = [];
  const stack = await startStack();
  const httpFetch: Fetch = (path, init) => fetch(`${stack.httpUrl}${path}`, init);
  const ours: Fetch = (path, init) => stack.client.fetch(path, init);
  let ws: JsonWsClient | undefined;
  try {
    ws = await JsonWsClient.open(stack.forwarderUrl);
    const wsSmall = async () => {
      const answer = await ws!.request('/small');
      check(answer.status === 200 && answer.body.length === 100, 'ws small request');
    };

    if (groups.has('small-request')) {
      log(`node: small request, ${plan.requests} sequential × ${plan.rounds} rounds`);
      for (const one of [() => smallRequest(httpFetch), () => smallRequest(ours), wsSmall]) await sequentialLatencies(one, plan.warmupRequests);
      const runs = await alternate(
        {
          a: () => sequentialLatencies(() => smallRequest(httpFetch), plan.requests),
          ours: () => sequentialLatencies(() => smallRequest(ours), plan.requests),
          c: () => sequentialLatencies(wsSmall, plan.requests),
        },
        { rounds: plan.rounds, warmup: false },
      );
      const at = (key: keyof typeof runs, q: number) => runs[key].map((latencies) => quantile(latencies, q));
      const what = `100 B GET, ${plan.requests} sequential requests per round`;
      figures.push(
        figure({ id: 'small-request.node.p50', group: 'small-request', name: 'Node client → relay → daemon, 100 B GET, p50', unit: 'ms', target: { op: '<=', ratio: 1.5 }, note: what }, at('ours', 0.5), { name: A_NAME, samples: at('a', 0.5) }),
        figure({ id: 'small-request.node.p99', group: 'small-request', name: 'Node client → relay → daemon, 100 B GET, p99', unit: 'ms', target: { op: '<=', ratio: 2 }, note: what }, at('ours', 0.99), { name: A_NAME, samples: at('a', 0.99) }),
        figure({ id: 'small-request.node-vs-ws.p50', group: 'small-request', name: 'Node client vs bare ws forwarder, 100 B GET, p50', unit: 'ms', note: `${what}; the WebSocket floor: no encryption, no checks` }, at('ours', 0.5), { name: C_NAME, samples: at('c', 0.5) }),
        figure({ id: 'small-request.node-vs-ws.p99', group: 'small-request', name: 'Node client vs bare ws forwarder, 100 B GET, p99', unit: 'ms', note: `${what}; the WebSocket floor: no encryption, no checks` }, at('ours', 0.99), { name: C_NAME, samples: at('c', 0.99) }),
      );
    }

    if (groups.has('throughput')) {
      log(`node: throughput, ${plan.downloadBytes / 1e6} MB down, ${plan.uploadBytes / 1e6} MB up × ${plan.rounds} rounds`);
      const warm = Math.min(plan.downloadBytes, 4e6);
      for (const f of [httpFetch, ours]) {
        await downloadMBps(f, warm);
        await uploadMBps(f, warm);
      }
      const wsStream = await WsStreamClient.open(stack.forwarderUrl);
      const mbps = async (size: number, move: () => Promise<number>) => {
        const start = performance.now();
        const length = await move();
        check(length === size, `baseline C moved ${length} of ${size} bytes`);
        return size / 1e6 / ((performance.now() - start) / 1000);
      };
      const wsDown = () => mbps(plan.downloadBytes, () => wsStream.download(plan.downloadBytes));
      const wsUp = () => mbps(plan.uploadBytes, () => wsStream.upload(plan.uploadBytes));
      await wsStream.download(warm);
      await wsStream.upload(warm);
      const down = await alternate({ a: () => downloadMBps(httpFetch, plan.downloadBytes), ours: () => downloadMBps(ours, plan.downloadBytes), c: wsDown }, { rounds: plan.rounds, warmup: false });
      const up = await alternate({ a: () => uploadMBps(httpFetch, plan.uploadBytes), ours: () => uploadMBps(ours, plan.uploadBytes), c: wsUp }, { rounds: plan.rounds, warmup: false });
      wsStream.close();
      const floor = 'report only; C: 64 KiB binary messages over a bare WebSocket through the bare ws forwarder, no encryption, paced by the sockets only: the floor of any relayed design here';
      figures.push(
        figure({ id: 'throughput.node.download', group: 'throughput', name: `Node client download, ${plan.downloadBytes / 1e6} MB`, unit: 'MB/s', target: { op: '>=', ratio: 0.6 }, note: 'request to last byte, one stream' }, down.ours, { name: A_NAME, samples: down.a }),
        figure({ id: 'throughput.node.upload', group: 'throughput', name: `Node client upload, ${plan.uploadBytes / 1e6} MB`, unit: 'MB/s', target: { op: '>=', ratio: 0.5 }, note: 'streamed request body to response, one stream' }, up.ours, { name: A_NAME, samples: up.a }),
        figure({ id: 'throughput.node-vs-ws.download', group: 'throughput', name: `Node client download vs bare ws forwarder, ${plan.downloadBytes / 1e6} MB`, unit: 'MB/s', note: floor }, down.ours, { name: C_STREAM_NAME, samples: down.c }),
        figure({ id: 'throughput.node-vs-ws.upload', group: 'throughput', name: `Node client upload vs bare ws forwarder, ${plan.uploadBytes / 1e6} MB`, unit: 'MB/s', note: floor }, up.ours, { name: C_STREAM_NAME, samples: up.c }),
        figure({ id: 'throughput.ws-vs-http.download', group: 'throughput', name: `Bare ws forwarder download (C), ${plan.downloadBytes / 1e6} MB`, unit: 'MB/s', note: 'report only: the relayed floor against a direct HTTP connection' }, down.c, { name: A_NAME, samples: down.a }),
        figure({ id: 'throughput.ws-vs-http.upload', group: 'throughput', name: `Bare ws forwarder upload (C), ${plan.uploadBytes / 1e6} MB`, unit: 'MB/s', note: 'report only: the relayed floor against a direct HTTP connection' }, up.c, { name: A_NAME, samples: up.a }),
      );
    }

    if (groups.has('concurrency')) {
      log(`node: concurrency, ${plan.inFlight} in flight × ${plan.rounds} rounds`);
      await concurrentMs(httpFetch, Math.min(plan.inFlight, 100));
      await concurrentMs(ours, Math.min(plan.inFlight, 100));
      const runs = await alternate({ a: () => concurrentMs(httpFetch, plan.inFlight), ours: () => concurrentMs(ours, plan.inFlight) }, { rounds: plan.rounds, warmup: false });
      figures.push(
        figure({ id: 'concurrency.node.total', group: 'concurrency', name: `${plan.inFlight} requests in flight on one session, total time`, unit: 'ms', note: `100 B GETs fired together; the baseline uses as many connections as undici opens` }, runs.ours, { name: `${A_NAME}, same concurrency`, samples: runs.a }),
      );
    }

    if (groups.has('cold-start')) {
      log(`node: cold start, ${plan.coldSamples} per round × ${plan.rounds} rounds; daemon restart × ${plan.restarts}`);
      const coldOurs = () => firstByteMs(stack.newClient);
      const coldWs = () => wsFirstByteMs(stack.forwarderUrl);
      const medianOf = async (one: () => Promise<number>) => {
        const samples: number[] = [];
        for (let i = 0; i < plan.coldSamples; i++) samples.push(await one());
        return summarize(samples).median;
      };
      await coldOurs();
      await coldWs();
      const runs = await alternate({ c: () => medianOf(coldWs), ours: () => medianOf(coldOurs) }, { rounds: plan.rounds, warmup: false });
      figures.push(
        figure({ id: 'cold-start.node.session', group: 'cold-start', name: 'New session (token, connect, handshake) to first response byte', unit: 'ms', target: { op: '<=', ratio: 4 }, note: `median of ${plan.coldSamples} per round; baseline: fresh WebSocket connect + one round trip through the bare forwarder` }, runs.ours, { name: 'ws connect + round trip via forwarder', samples: runs.c }),
      );
      const restarts: number[] = [];
      for (let i = 0; i < plan.restarts; i++) restarts.push(await restartedDaemonMs(stack));
      figures.push(
        figure({ id: 'cold-start.node.daemon-restart', group: 'cold-start', name: 'Restarted daemon to first response', unit: 'ms', note: "daemon child SIGKILLed, a new one forked and loaded; from its listen() call to the waiting client's first response (new session on the client's own reconnect)" }, restarts),
      );
    }
  } finally {
    ws?.close();
    await stack.close();
  }
  return figures;
}

/** SIGKILLs the daemon child, forks a new one, and times its `listen()` to the client's first answer. */
async function restartedDaemonMs(stack: Stack): Promise<number> {
  const paused = new Promise<void>((resolve) => {
    const off = stack.client.on('paused', () => {
      off();
      resolve();
    });
    setTimeout(resolve, 5000).unref();
  });
  stack.daemon.child.kill('SIGKILL');
  await stack.daemon.stop();
  await paused;
  stack.daemon = forkChild('../../bench/children/daemon-child.ts');
  await stack.daemon.call('ping');
  const start = performance.now();
  await stack.daemon.call('listen', { relay: stack.relayUrl, apiKey: stack.apiKey, seed: stack.seed });
  for (let attempt = 0; ; attempt++) {
    try {
      await smallRequest((path) => stack.client.fetch(path, { signal: AbortSignal.timeout(10_000) }));
      return performance.now() - start;
    } catch (error) {
      if (attempt > 2000) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}
