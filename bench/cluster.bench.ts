/**
 * The cross-node hop (issue 10): what a session pays when its client and its daemon sit on
 * different relay nodes (frames go client → node B → Redis PUB/SUB → node A → daemon) against a
 * session whose client is on the daemon's node, measured in the same run over the same cluster
 * (two relay processes and a private redis-server), in alternating rounds.
 *
 * - Round trip: the client sends one Data frame, the daemon echoes it, the client receives it;
 *   1 KiB and 64 KiB payloads. The hop's added cost is (cross-node − local) / 2 per direction.
 *   Target: ≤ 0.5 ms p50 added on loopback.
 * - Throughput: 1 KiB Data frames client → daemon with a bounded number in flight, counted where
 *   the daemon receives them, frames/s. Target: cross-node ≥ 0.5 × local.
 *
 * The load generator (this process) holds the raw client and daemon sockets; rate limits are
 * raised on the nodes so the limiter does not cap the measurement.
 */
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { ed25519 } from '@noble/curves/ed25519.js';
import { FrameType } from '../protocol/codes.js';
import { toBase64Url } from '../protocol/bytes.js';
import { encodeFrame } from '../protocol/frame-codec.js';
import { startCluster, type Cluster, type ClusterNode } from '../relay/testing/cluster.js';
import { redisServerAvailable, startRedisServer } from '../relay/testing/redis-server.js';
import { quantile, summarize, type BenchFigure, type BenchOptions } from './figure.js';

const SMALL = 1024;
const LARGE = 64 * 1024;
/** Unacknowledged frames at most in the throughput pump. */
const IN_FLIGHT = 64;
/** A run that has not finished by then failed (a socket closed, a frame was lost). */
const STALL_MS = 30_000;
const HOP_TARGET_MS = 0.5;
const RATE_FLAGS = ['--client-rate', '10000000', '--client-burst', '100000000', '--daemon-rate', '10000000', '--daemon-burst', '100000000'];

interface Session {
  client: WebSocket;
  sid: bigint;
}

/** First payload byte of a Data frame: the daemon echoes ECHO frames and counts SINK frames. */
const ECHO = 1;
const SINK = 0;

/** Raw sockets: one daemon on node A, one client on A (local) and one on B (cross-node). */
interface Sockets {
  daemon: WebSocket;
  /** Called for each SINK frame the daemon receives. */
  onSink: (() => void) | undefined;
  local: Session;
  remote: Session;
  close(): Promise<void>;
}

async function openSocket(node: ClusterNode, token: string): Promise<WebSocket> {
  const ws = new WebSocket(node.wsUrl, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
  await once(ws, 'open');
  return ws;
}

async function post<T>(node: ClusterNode, path: string, bearer: string, body: unknown): Promise<T> {
  const res = await fetch(`${node.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function openSockets(cluster: Cluster): Promise<Sockets> {
  const [a, b] = cluster.nodes as [ClusterNode, ClusterNode];
  const identityPublicKey = toBase64Url(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));
  const { daemonId, apiKey } = await cluster.registerDaemon(identityPublicKey);
  const presence = await post<{ token: string }>(a, '/v1/tokens/presence', apiKey, { resume: true });
  const daemon = await openSocket(a, presence.token);
  // ECHO frames go back unchanged to the session they came from; SINK frames are counted.
  daemon.on('message', (data: Buffer) => {
    if (data[0] !== FrameType.Data) return;
    if (data[13] === ECHO) daemon.send(data);
    else sockets.onSink?.();
  });
  const session = async (node: ClusterNode): Promise<Session> => {
    const issued = await cluster.sessionToken(apiKey, daemonId);
    return { client: await openSocket(node, issued.token), sid: issued.sessionId };
  };
  const local = await session(a);
  const remote = await session(b);
  const sockets: Sockets = {
    daemon,
    onSink: undefined,
    local,
    remote,
    async close() {
      await Promise.all([daemon, local.client, remote.client].map(async (ws) => {
        if (ws.readyState === WebSocket.CLOSED) return;
        const closed = once(ws, 'close');
        ws.close();
        await closed;
      }));
    },
  };
  return sockets;
}

/** `count` sequential echo round trips; returns each in ms. */
async function roundTrips(session: Session, payloadBytes: number, count: number): Promise<number[]> {
  const frame = encodeFrame(FrameType.Data, session.sid, new Uint8Array(payloadBytes).fill(ECHO, 0, 1));
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const echoed = once(session.client, 'message', { signal: AbortSignal.timeout(STALL_MS) });
    const start = performance.now();
    session.client.send(frame);
    await echoed;
    samples.push(performance.now() - start);
  }
  return samples;
}

/** Sends `frames` 1 KiB SINK frames with at most IN_FLIGHT not yet at the daemon; returns frames/s. */
async function pump(sockets: Sockets, session: Session, frames: number): Promise<number> {
  const frame = encodeFrame(FrameType.Data, session.sid, new Uint8Array(SMALL).fill(SINK, 0, 1));
  let sent = 0;
  let received = 0;
  const start = performance.now();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`cluster bench: ${received} of ${frames} frames after ${STALL_MS} ms`)), STALL_MS);
    const onClose = (code: number): void => finish(new Error(`cluster bench: a socket closed mid-run (${code})`));
    const sendMore = (): void => {
      while (sent < frames && sent - received < IN_FLIGHT) {
        session.client.send(frame);
        sent++;
      }
    };
    const onMessage = (): void => {
      received++;
      if (received === frames) finish();
      else sendMore();
    };
    const finish = (error?: Error): void => {
      clearTimeout(timer);
      sockets.onSink = undefined;
      session.client.off('close', onClose);
      sockets.daemon.off('close', onClose);
      if (error) reject(error);
      else resolve();
    };
    sockets.onSink = onMessage;
    session.client.on('close', onClose);
    sockets.daemon.on('close', onClose);
    sendMore();
  });
  return frames / ((performance.now() - start) / 1000);
}

interface Latency {
  p50: number[];
  p99: number[];
}

/** Alternating rounds of local and cross-node round trips; per round its p50 and p99. */
async function latencyRounds(sockets: Sockets, payload: number, perRound: number, rounds: number): Promise<{ local: Latency; remote: Latency }> {
  await roundTrips(sockets.local, payload, Math.max(10, perRound >> 2));
  await roundTrips(sockets.remote, payload, Math.max(10, perRound >> 2));
  const local: Latency = { p50: [], p99: [] };
  const remote: Latency = { p50: [], p99: [] };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? ([[sockets.local, local], [sockets.remote, remote]] as const) : ([[sockets.remote, remote], [sockets.local, local]] as const);
    for (const [session, into] of order) {
      const samples = await roundTrips(session, payload, perRound);
      into.p50.push(quantile(samples, 0.5));
      into.p99.push(quantile(samples, 0.99));
    }
  }
  return { local, remote };
}

const median = (samples: number[]): number => summarize(samples).median;

function hopFigures(size: number, label: string, local: Latency, remote: Latency, rounds: number): BenchFigure[] {
  const figures: BenchFigure[] = [];
  for (const q of ['p50', 'p99'] as const) {
    const added = (median(remote[q]) - median(local[q])) / 2;
    const verdict = q === 'p50' ? `; target ≤ ${HOP_TARGET_MS} ms added: ${added <= HOP_TARGET_MS ? 'met' : 'missed'}` : '';
    figures.push({
      id: `cluster.rtt.${size}.${q}`,
      group: 'cluster',
      name: `Round trip through a cross-node session, ${label} Data, ${q}`,
      unit: 'ms',
      value: median(remote[q]),
      spread: summarize(remote[q]).spread,
      rounds,
      baseline: { name: 'same session with client and daemon on one node', value: median(local[q]) },
      note: `the Redis hop adds ${added.toFixed(3)} ms ${q} per direction ((cross-node − local) / 2)${verdict}`,
    });
  }
  return figures;
}

export async function clusterBenchmarks(opts: BenchOptions = { quick: false }): Promise<BenchFigure[] | string> {
  const available = redisServerAvailable();
  if (!available.ok) {
    if (process.env.CI) throw new Error(`cluster bench needs redis-server in CI: ${available.reason}`);
    return available.reason;
  }
  const rounds = opts.quick ? 2 : 7;
  const perRound = opts.quick ? 30 : 1000;
  const frames = opts.quick ? 500 : 20_000;
  const redis = await startRedisServer();
  let cluster: Cluster | undefined;
  let sockets: Sockets | undefined;
  try {
    cluster = await startCluster({ nodes: 2, redis: redis.url, timers: {}, relayArgs: RATE_FLAGS });
    sockets = await openSockets(cluster);
    const figures: BenchFigure[] = [];
    for (const [size, label] of [[SMALL, '1 KiB'], [LARGE, '64 KiB']] as const) {
      const { local, remote } = await latencyRounds(sockets, size, perRound, rounds);
      figures.push(...hopFigures(size, label, local, remote, rounds));
    }
    await pump(sockets, sockets.local, Math.max(100, frames >> 3));
    await pump(sockets, sockets.remote, Math.max(100, frames >> 3));
    const local: number[] = [];
    const remote: number[] = [];
    for (let round = 0; round < rounds; round++) {
      if (round % 2 === 0) {
        remote.push(await pump(sockets, sockets.remote, frames));
        local.push(await pump(sockets, sockets.local, frames));
      } else {
        local.push(await pump(sockets, sockets.local, frames));
        remote.push(await pump(sockets, sockets.remote, frames));
      }
    }
    figures.push({
      id: 'cluster.frames.1024',
      group: 'cluster',
      name: 'Cross-node session, 1 KiB Data frames client → daemon',
      unit: 'frames/s',
      value: median(remote),
      spread: summarize(remote).spread,
      rounds,
      baseline: { name: 'same session with client and daemon on one node', value: median(local) },
      target: { op: '>=', ratio: 0.5 },
      note: `${IN_FLIGHT} frames in flight, counted at the daemon; 2 relay processes + redis-server ${available.version}, alternating rounds`,
    });
    return figures;
  } finally {
    await sockets?.close();
    await cluster?.stop();
    await redis.stop();
  }
}

/** `tsx bench/cluster.bench.ts [--quick]` prints the figures on their own. */
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const result = await clusterBenchmarks({ quick: process.argv.includes('--quick') });
  if (typeof result === 'string') console.log(`skipped: ${result}`);
  else for (const f of result) console.log(`${f.id.padEnd(24)} ${f.value.toFixed(3)} ${f.unit} vs ${f.baseline?.value.toFixed(3) ?? '-'}  ${f.note ?? ''}`);
}
