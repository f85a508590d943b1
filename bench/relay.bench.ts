/**
 * Relay forwarding cost and memory (performance issue, item 4): Data frames from client sockets
 * to one daemon socket through the real relay (token auth done, the validation order, routing
 * and metering on every frame), against a bare `ws` forwarder that copies each message to the
 * daemon socket with no checks — the floor for any WebSocket relay in Node on this machine.
 *
 * The relay and the forwarder each run in a child process (bench/relay-child.ts), so the load
 * generator (this process, which opens the client and daemon sockets) and the forwarder have a
 * core each; the two are measured in alternating rounds over the same open sockets, and each
 * figure is the median with the spread. Rate limits are raised in the relay child so the
 * limiter does not cap the measurement.
 *
 * Memory per idle session: N idle sessions (client sockets bound to one daemon) against N bare
 * `ws` connections, each in a fresh child, as heap + external bytes after two full GCs, minus
 * the same before the sockets were opened, divided by N.
 *
 * Native masking: the same forwarding once more with `WS_NO_BUFFER_UTIL=1` in the children, so
 * ws unmasks client frames in JavaScript there (this process keeps bufferutil for both).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { encodeFrame } from '../protocol/frame-codec.js';
import { FrameType } from '../protocol/codes.js';
import { summarize, type BenchFigure, type BenchOptions } from './figure.js';
import type { RelayChildReply, RelayChildRequest } from './relay-ipc.js';
import { RELAY_NODE_FLAGS } from '../relay/node-flags.js';

type Mode = 'relay' | 'bare';

const CHILD = fileURLToPath(new URL('./relay-child.ts', import.meta.url));
/** Unacknowledged frames at most, and bytes at most (well under the relay's 8 MiB slow-consumer limit). */
const IN_FLIGHT = 128;
const IN_FLIGHT_BYTES = 1024 * 1024;
/** A pump that has not finished by then failed (a socket closed, a frame was lost). */
const PUMP_TIMEOUT_MS = 60_000;
const SMALL = 1024;
const LARGE = 64 * 1024;

interface Child {
  process: ChildProcess;
  url: string;
  bufferutil: boolean;
  request<T extends RelayChildReply['type']>(message: RelayChildRequest, reply: T): Promise<Extract<RelayChildReply, { type: T }>>;
  close(): Promise<void>;
}

async function startChild(mode: Mode, bufferutil = true): Promise<Child> {
  const env = { ...process.env };
  if (bufferutil) delete env.WS_NO_BUFFER_UTIL;
  else env.WS_NO_BUFFER_UTIL = '1';
  // The relay as `npm run relay` starts it; the bare forwarder with the same flags, so only the code differs.
  const child = fork(CHILD, [mode], { execArgv: [...RELAY_NODE_FLAGS, '--import', 'tsx', '--expose-gc', ...(process.env.CHILD_EXEC_ARGV?.split(' ').filter(Boolean) ?? [])], env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = (type: RelayChildReply['type']): Promise<RelayChildReply> =>
    new Promise((resolve, reject) => {
      const onMessage = (message: RelayChildReply): void => {
        if (message.type !== type) return;
        cleanup();
        resolve(message);
      };
      const onExit = (code: number | null): void => {
        cleanup();
        reject(new Error(`relay bench child (${mode}) exited with ${code}`));
      };
      const cleanup = (): void => {
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.on('exit', onExit);
    });
  const ready = (await next('ready')) as Extract<RelayChildReply, { type: 'ready' }>;
  return {
    process: child,
    url: ready.url,
    bufferutil: ready.bufferutil,
    async request(message, reply) {
      const answer = next(reply);
      child.send(message);
      return (await answer) as never;
    },
    async close() {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.send({ type: 'exit' } satisfies RelayChildRequest);
      await exited;
    },
  };
}

function connect(child: Child, mode: Mode, token: string): Promise<WebSocket> {
  const ws = mode === 'relay'
    ? new WebSocket(child.url, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false })
    : new WebSocket(child.url + token, { perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** One daemon socket and `sessions` client sockets, open on a child. */
interface Pipes {
  daemon: WebSocket;
  clients: WebSocket[];
  sids: bigint[];
  close(): Promise<void>;
}

type Tokens = Extract<RelayChildReply, { type: 'tokens' }>;

async function openPipes(child: Child, mode: Mode, sessions: number, issued?: Tokens): Promise<Pipes> {
  const tokens = issued ?? (await child.request({ type: 'tokens', sessions }, 'tokens'));
  const daemon = await connect(child, mode, tokens.daemon);
  const clients: WebSocket[] = [];
  // A few at a time: the upgrade path is not what is measured.
  for (let i = 0; i < tokens.clients.length; i += 50) {
    clients.push(...(await Promise.all(tokens.clients.slice(i, i + 50).map((token) => connect(child, mode, token)))));
  }
  return {
    daemon,
    clients,
    sids: tokens.sids.map((sid) => BigInt(sid)),
    async close() {
      const all = [daemon, ...clients];
      await Promise.all(all.map((ws) => {
        if (ws.readyState === WebSocket.CLOSED) return undefined;
        const closed = once(ws, 'close');
        ws.close();
        return closed;
      }));
    },
  };
}

/** Frames in flight for a payload size: IN_FLIGHT, or fewer for large frames. */
function window(payloadBytes: number): number {
  return Math.max(1, Math.min(IN_FLIGHT, Math.floor(IN_FLIGHT_BYTES / (payloadBytes + 13))));
}

/**
 * Sends `frames` Data frames round-robin over the clients with at most window(size)
 * unacknowledged; returns frames/s. Rejects if a socket closes or the run stalls.
 */
async function pump(pipes: Pipes, payloadBytes: number, frames: number): Promise<number> {
  const encoded = pipes.sids.map((sid) => encodeFrame(FrameType.Data, sid, new Uint8Array(payloadBytes)));
  const inFlight = window(payloadBytes);
  let received = 0;
  let sent = 0;
  let resolveDone!: () => void;
  let rejectDone!: (error: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  const onClose = (code: number): void => rejectDone(new Error(`relay bench: a socket closed mid-run (${code})`));
  const sockets = [pipes.daemon, ...pipes.clients];
  for (const ws of sockets) ws.on('close', onClose);
  const timer = setTimeout(() => rejectDone(new Error(`relay bench: ${received} of ${frames} frames after ${PUMP_TIMEOUT_MS} ms`)), PUMP_TIMEOUT_MS);
  const sendMore = (): void => {
    while (sent < frames && sent - received < inFlight) {
      const i = sent % pipes.clients.length;
      pipes.clients[i]!.send(encoded[i]!);
      sent++;
    }
  };
  const onMessage = (): void => {
    received++;
    if (received === frames) resolveDone();
    else sendMore();
  };
  pipes.daemon.on('message', onMessage);
  const start = performance.now();
  sendMore();
  try {
    await done;
  } finally {
    clearTimeout(timer);
    pipes.daemon.off('message', onMessage);
    for (const ws of sockets) ws.off('close', onClose);
  }
  return frames / ((performance.now() - start) / 1000);
}

interface Pair {
  relay: number[];
  bare: number[];
}

/** Alternating rounds of the same pump through two forwarders; returns the samples. */
async function alternate(a: Pipes, b: Pipes, payload: number, frames: number, rounds: number): Promise<Pair> {
  // Warm-up, not kept: JIT and socket buffers of both sides.
  await pump(a, payload, Math.max(100, frames >> 3));
  await pump(b, payload, Math.max(100, frames >> 3));
  const pair: Pair = { relay: [], bare: [] };
  for (let round = 0; round < rounds; round++) {
    // Swap who goes first each round, so a drift of the machine does not favour one side.
    if (round % 2 === 0) {
      pair.bare.push(await pump(b, payload, frames));
      pair.relay.push(await pump(a, payload, frames));
    } else {
      pair.relay.push(await pump(a, payload, frames));
      pair.bare.push(await pump(b, payload, frames));
    }
  }
  return pair;
}

function figure(
  fields: Omit<BenchFigure, 'value' | 'spread' | 'rounds' | 'baseline'> & { baselineName: string },
  samples: number[],
  baselineSamples: number[],
  scale = 1,
): BenchFigure {
  const { baselineName, ...rest } = fields;
  const value = summarize(samples.map((s) => s * scale));
  const base = summarize(baselineSamples.map((s) => s * scale));
  return {
    ...rest,
    value: value.median,
    spread: value.spread,
    rounds: samples.length,
    baseline: { name: baselineName, value: base.median },
  };
}

/** Heap + external bytes per idle session, in a fresh child. */
export async function idleBytes(mode: Mode, sessions: number): Promise<{ perSession: number; rssPerSession: number }> {
  const child = await startChild(mode);
  try {
    // A few connections first, so lazily built state (compiled code, pools) is not counted per session.
    const warm = await openPipes(child, mode, 20);
    await warm.close();
    // Tokens (and their control-plane records) are issued before the first reading: only what
    // the data plane holds per connection is counted.
    const tokens = await child.request({ type: 'tokens', sessions }, 'tokens');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const before = await child.request({ type: 'memory' }, 'memory');
    const pipes = await openPipes(child, mode, sessions, tokens);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const after = await child.request({ type: 'memory' }, 'memory');
    if (after.connections < sessions + 1) throw new Error(`${mode}: only ${after.connections} of ${sessions + 1} connections open`);
    await pipes.close();
    return { perSession: (after.bytes - before.bytes) / sessions, rssPerSession: (after.rss - before.rss) / sessions };
  } finally {
    await child.close();
  }
}

export async function relayBenchmarks(opts: BenchOptions = { quick: false }): Promise<BenchFigure[]> {
  const figures: BenchFigure[] = [];
  const rounds = opts.quick ? 3 : 7;
  const sessionCounts = opts.quick ? [1, 10] : [1, 100, 1000];
  const smallFrames = opts.quick ? 2000 : 20_000;
  const largeFrames = opts.quick ? 200 : 2000;

  const relay = await startChild('relay');
  const bare = await startChild('bare');
  try {
    for (const sessions of sessionCounts) {
      const a = await openPipes(relay, 'relay', sessions);
      const b = await openPipes(bare, 'bare', sessions);
      const small = await alternate(a, b, SMALL, smallFrames, rounds);
      figures.push(figure({
        id: `relay.frames.${sessions}`,
        group: 'relay',
        name: `Relay forwarding, ${sessions} session${sessions === 1 ? '' : 's'}, 1 KiB Data frames`,
        unit: 'frames/s',
        baselineName: 'bare ws forwarder (no checks)',
        target: { op: '>=', ratio: 0.9 },
        note: `client → daemon, ${window(SMALL)} frames in flight; relay and forwarder in child processes, alternating rounds`,
      }, small.relay, small.bare));
      const large = await alternate(a, b, LARGE, largeFrames, rounds);
      const bytes = encodeFrame(FrameType.Data, 1n, new Uint8Array(LARGE)).length;
      figures.push(figure({
        id: `relay.mbps.${sessions}`,
        group: 'relay',
        name: `Relay forwarding, ${sessions} session${sessions === 1 ? '' : 's'}, 64 KiB Data frames`,
        unit: 'MB/s',
        baselineName: 'bare ws forwarder (no checks)',
        target: { op: '>=', ratio: 0.9 },
        note: `client → daemon, ${window(LARGE)} frames in flight`,
      }, large.relay, large.bare, bytes / 1e6));
      await a.close();
      await b.close();
    }
  } finally {
    await relay.close();
    await bare.close();
  }

  // Native masking (bufferutil) against ws's JavaScript masking, in the forwarders.
  const [relayJs, bareJs, relayNative, bareNative] = await Promise.all([
    startChild('relay', false), startChild('bare', false), startChild('relay', true), startChild('bare', true),
  ]);
  try {
    if (!relayNative.bufferutil) {
      figures.push({ id: 'relay.bufferutil', group: 'relay', name: 'bufferutil not installed: no native masking figure', unit: '', value: 0 });
    } else {
      for (const [mode, js, native] of [['relay', relayJs, relayNative], ['bare', bareJs, bareNative]] as const) {
        const withJs = await openPipes(js, mode, 1);
        const withNative = await openPipes(native, mode, 1);
        const pair = await alternate(withNative, withJs, LARGE, largeFrames, rounds);
        await withJs.close();
        await withNative.close();
        const bytes = encodeFrame(FrameType.Data, 1n, new Uint8Array(LARGE)).length;
        figures.push(figure({
          id: `relay.bufferutil.${mode}`,
          group: 'relay',
          name: `${mode === 'relay' ? 'Relay' : 'Bare ws forwarder'} with bufferutil, 64 KiB Data frames`,
          unit: 'MB/s',
          baselineName: `${mode === 'relay' ? 'relay' : 'bare ws forwarder'} with ws's JavaScript masking (WS_NO_BUFFER_UTIL=1)`,
          note: 'the forwarder unmasks every client frame; the load generator masks natively in both',
        }, pair.relay, pair.bare, bytes / 1e6));
      }
    }
  } finally {
    await Promise.all([relayJs.close(), bareJs.close(), relayNative.close(), bareNative.close()]);
  }

  const idleSessions = opts.quick ? 50 : 1000;
  const memoryRounds = opts.quick ? 1 : 3;
  const relayBytes: number[] = [];
  const bareBytes: number[] = [];
  const relayRss: number[] = [];
  const bareRss: number[] = [];
  for (let round = 0; round < memoryRounds; round++) {
    const r = await idleBytes('relay', idleSessions);
    const b = await idleBytes('bare', idleSessions);
    relayBytes.push(r.perSession);
    bareBytes.push(b.perSession);
    relayRss.push(r.rssPerSession);
    bareRss.push(b.rssPerSession);
  }
  const rss = (samples: number[]): string => (summarize(samples).median / 1024).toFixed(1);
  figures.push(figure({
    id: 'relay.memory.idle-session',
    group: 'relay',
    name: `Relay memory per idle session (${idleSessions} sessions)`,
    unit: 'KiB',
    baselineName: 'bare ws connection',
    target: { op: '<=', ratio: 1.5 },
    note: `heap + external after GC in the forwarder child, fresh child per round; RSS per session ${rss(relayRss)} KiB vs ${rss(bareRss)} KiB (noisier)`,
  }, relayBytes, bareBytes, 1 / 1024));
  return figures;
}

/** `tsx bench/relay.bench.ts [--quick]` prints the figures on their own. */
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const figures = await relayBenchmarks({ quick: process.argv.includes('--quick') });
  for (const f of figures) {
    const ratio = f.baseline ? (f.value / f.baseline.value).toFixed(3) : '-';
    console.log(`${f.id.padEnd(28)} ${ratio.padStart(6)}×  ${f.value.toFixed(1)} ${f.unit} vs ${f.baseline?.value.toFixed(1) ?? '-'}  spread ${f.spread?.map((v) => v.toFixed(1)).join('–') ?? '-'}`);
  }
}
