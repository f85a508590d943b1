import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelayProcess, type RelayProcess } from './relay-process.js';

/**
 * N relay processes on one Redis (issue 10), for the cluster suite, the bench and
 * `npm run cluster`. Node `writer` (0 by default) is the control-plane writer with its SQLite
 * store in a temp directory; every other node verifies tokens against the writer's JWKS and
 * forwards the control-plane HTTP API to it. Each node is a separate process so it can be
 * SIGKILLed or SIGSTOPped alone; `restart()` brings it back on the same port.
 */

export const CLUSTER_ADMIN_KEY = 'cluster-admin-key-0123456789abcdef';

/**
 * Timers shortened for tests (seconds): a dead node noticed within about 2 s, a lease that lapses
 * in 3 s, a short grace. Not shorter: on a busy 2-core CI machine an event loop can stall for a
 * second, and a heartbeat or probe missed for that reason would end sessions the test expects to
 * live. Production defaults are in `npm run relay -- --help`.
 */
export const FAST_CLUSTER_TIMERS: Readonly<Record<string, string>> = {
  'lease-ttl': '3',
  'lease-renew': '0.5',
  'node-heartbeat': '0.25',
  'node-dead-after': '2',
  'probe-interval': '2',
  grace: '4',
};

/** `{ flag: value }` as CLI arguments. */
export function timerArgs(timers: Readonly<Record<string, string>>): string[] {
  return Object.entries(timers).flatMap(([flag, value]) => [`--${flag}`, value]);
}

export interface ClusterOptions {
  /** Number of relay processes (default 3). */
  nodes?: number;
  /** Redis URL for the redis backplane; omitted with `backplane: 'memory'`. */
  redis?: string;
  backplane?: 'redis' | 'memory';
  /** Extra arguments for every node (timer flags default to FAST_CLUSTER_TIMERS). */
  relayArgs?: readonly string[];
  /** Timer flags; `{}` leaves the relay's defaults. */
  timers?: Readonly<Record<string, string>>;
  /** Index of the control-plane writer (default 0). */
  writer?: number;
  /** Port of node i is `portBase + i` (default: any free port). */
  portBase?: number;
  env?: Readonly<Record<string, string>>;
  adminKey?: string;
}

export interface ClusterNode {
  readonly index: number;
  readonly nodeId: string;
  readonly url: string;
  readonly wsUrl: string;
  readonly port: number;
  readonly isWriter: boolean;
  /** Whether the process is running (it may be SIGSTOPped). */
  readonly running: boolean;
  readonly pid: number | undefined;
  /** What this node wrote to stderr, across restarts (the last 1 MiB). */
  stderr(): string;
  /** Sends `signal`; resolves once the process exited for terminating signals, at once for SIGSTOP/SIGCONT. */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** SIGTERM (continued first if stopped), then waits for exit. Idempotent. */
  stop(): Promise<void>;
  /** Starts the node again on the same port with the same flags. */
  restart(): Promise<void>;
}

export interface Cluster {
  readonly nodes: readonly ClusterNode[];
  readonly writer: ClusterNode;
  readonly adminKey: string;
  readonly redis: string | undefined;
  /** Registers a daemon through the writer's HTTP API (admin key). */
  registerDaemon(identityPublicKey: string, via?: ClusterNode): Promise<{ daemonId: string; apiKey: string }>;
  /** A client session token (with its `sid`) for `daemonId`, issued through `via` (default the writer). */
  sessionToken(bearer: string, daemonId: string, via?: ClusterNode): Promise<{ token: string; sid: string; sessionId: bigint }>;
  /** Stops every node and removes the writer's data directory. Idempotent. */
  stop(): Promise<void>;
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const count = options.nodes ?? 3;
  const writerIndex = options.writer ?? 0;
  if (!Number.isInteger(count) || count < 1) throw new RangeError('nodes must be a positive integer');
  if (writerIndex < 0 || writerIndex >= count) throw new RangeError('writer must be a node index');
  const backplane = options.backplane ?? 'redis';
  if (backplane === 'redis' && !options.redis) throw new RangeError('the redis backplane needs a redis URL');
  const adminKey = options.adminKey ?? CLUSTER_ADMIN_KEY;
  const dataDir = await mkdtemp(join(tmpdir(), 'sideband-cluster-'));
  const timers = options.timers ?? FAST_CLUSTER_TIMERS;
  // The cluster timers exist only with the redis backplane; a single process takes just --grace.
  const timerFlags = backplane === 'redis' ? timers : timers.grace === undefined ? {} : { grace: timers.grace };
  const common = [
    '--backplane', backplane,
    ...(backplane === 'redis' ? ['--redis', options.redis!] : []),
    ...timerArgs(timerFlags),
    ...(options.relayArgs ?? []),
  ];
  const env = { SIDEBAND_ADMIN_KEY: adminKey, ...options.env };
  const port = (i: number): number => (options.portBase === undefined ? 0 : options.portBase + i);
  const nodes: NodeHandle[] = [];
  try {
    const named = backplane === 'redis';
    const writer = await NodeHandle.start(writerIndex, true, named, [...common, '--data-dir', dataDir], port(writerIndex), env);
    nodes[writerIndex] = writer;
    const others = [...Array(count).keys()].filter((i) => i !== writerIndex);
    const followerArgs = [...common, '--jwks-url', `${writer.url}/.well-known/jwks.json`, '--control-plane-url', writer.url];
    const started = await Promise.allSettled(others.map((i) => NodeHandle.start(i, false, named, followerArgs, port(i), env)));
    started.forEach((result, k) => {
      if (result.status === 'fulfilled') nodes[others[k]!] = result.value;
    });
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } catch (error) {
    await Promise.all(nodes.filter(Boolean).map((n) => n.stop()));
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const writer = nodes[writerIndex]!;
  const api = async <T>(via: ClusterNode, path: string, bearer: string, body: unknown): Promise<T> => {
    const res = await fetch(`${via.url}${path}`, {
      method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${path} via node ${via.index}: HTTP ${res.status} ${text}`);
    return JSON.parse(text) as T;
  };
  let stopping: Promise<void> | undefined;
  return {
    nodes,
    writer,
    adminKey,
    redis: options.redis,
    registerDaemon: (identityPublicKey, via = writer) => api(via, '/v1/daemons', adminKey, { identityPublicKey, label: 'cluster test' }),
    async sessionToken(bearer, daemonId, via = writer) {
      const issued = await api<{ token: string; sid: string; sessionId: string }>(via, '/v1/tokens/session', bearer, { daemonId });
      return { token: issued.token, sid: issued.sid, sessionId: BigInt(issued.sessionId) };
    },
    stop() {
      stopping ??= (async () => {
        await Promise.all(nodes.map((n) => n.stop()));
        await rm(dataDir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

/** Longest stderr kept per node; older text is dropped (a chatty node cannot grow it). */
const MAX_LOG_CHARS = 1024 * 1024;

class NodeHandle implements ClusterNode {
  readonly nodeId: string;
  private process: RelayProcess;
  private log = '';

  private constructor(
    readonly index: number,
    readonly isWriter: boolean,
    /** All flags but --port (the same on every start). */
    private readonly args: readonly string[],
    readonly port: number,
    private readonly env: Readonly<Record<string, string>>,
    first: RelayProcess,
  ) {
    this.nodeId = nodeIdOf(index);
    this.process = first;
    this.attach(first);
  }

  static async start(index: number, isWriter: boolean, named: boolean, args: readonly string[], port: number, env: Readonly<Record<string, string>>): Promise<NodeHandle> {
    const withId = named ? [...args, '--node-id', nodeIdOf(index)] : [...args];
    const first = await startRelayProcess([...withId, '--port', String(port)], { ...env });
    const handle = new NodeHandle(index, isWriter, withId, first.port, env, first);
    await handle.healthy();
    return handle;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/v1/connect`;
  }

  get running(): boolean {
    return this.process.child.exitCode === null && this.process.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.running ? this.process.child.pid : undefined;
  }

  stderr(): string {
    return this.log;
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    if (!this.running) return;
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') {
      this.process.child.kill(signal);
      return;
    }
    this.process.child.kill('SIGCONT');
    await this.process.stop(signal);
  }

  async stop(): Promise<void> {
    if (this.running) this.process.child.kill('SIGCONT');
    await this.process.stop('SIGTERM');
  }

  async restart(): Promise<void> {
    await this.stop();
    this.process = await startRelayProcess([...this.args, '--port', String(this.port)], { ...this.env });
    this.attach(this.process);
    await this.healthy();
  }

  private attach(process: RelayProcess): void {
    const earlier = process.output().stderr;
    const append = (chunk: string): void => {
      this.log = (this.log + chunk).slice(-MAX_LOG_CHARS);
    };
    if (earlier) append(earlier);
    process.child.stderr?.on('data', append);
  }

  /** Waits until /healthz answers 200 (a node may listen before it joined the backplane). */
  private async healthy(timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      try {
        const res = await fetch(`${this.url}/healthz`);
        last = `${res.status} ${await res.text()}`;
        if (res.ok) return;
      } catch (error) {
        last = String(error);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`node ${this.index} not healthy within ${timeoutMs} ms (last: ${last}); stderr:\n${this.log.slice(-2000)}`);
  }
}

function nodeIdOf(index: number): string {
  return `n${index}`;
}
