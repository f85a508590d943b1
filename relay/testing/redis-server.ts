import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { freePort } from './free-port.js';
import { tmpdir } from 'node:os';
import { Redis } from 'ioredis';

/**
 * A private `redis-server` for tests, benchmarks and `npm run cluster` (scale-out.md, "Testing it
 * here"): its own free port, no persistence, never the packaged service on 6379. Ready means a
 * real connection answered PING, not that a log line appeared. Only the PID started here is ever
 * signalled, and a parent that exits takes its Redis with it.
 */

/** The binary, overridable for a Redis or Valkey outside PATH. */
const REDIS_BINARY = process.env.SIDEBAND_REDIS_SERVER || 'redis-server';
/** Minimum version the backplane supports (scale-out.md §8). */
const MIN_MAJOR = 7;
/** Output kept for error messages; older text is dropped so a chatty server cannot grow it. */
const MAX_OUTPUT_CHARS = 64 * 1024;

export interface RedisServerOptions {
  /** Extra configuration, e.g. `{ 'client-output-buffer-limit': 'pubsub 64kb 32kb 0' }`. */
  config?: Readonly<Record<string, string>>;
  /** How long to wait for the first PING answer. */
  startTimeoutMs?: number;
}

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** PID of the current process (changes on restart). */
  readonly pid: number;
  /** Runs one command on a fresh connection and returns the reply, e.g. `cli('CLIENT', 'KILL', 'TYPE', 'pubsub')`. */
  cli(command: string, ...args: (string | number)[]): Promise<unknown>;
  /** What the server printed so far (the last 64 KiB). */
  output(): string;
  /**
   * Sends `signal` to the server. Resolves once it exited for a terminating signal, at once for
   * SIGSTOP and SIGCONT.
   */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** Stops the server (SIGTERM, SIGKILL after 5 s). Idempotent. */
  stop(): Promise<void>;
  /** Stops it if still running, then starts a new one on the same port with the same config. */
  restart(): Promise<void>;
}

export type RedisAvailability = { ok: true; version: string } | { ok: false; reason: string };

/** Whether a usable `redis-server` (7.0 or later) can be started here. */
export function redisServerAvailable(binary = REDIS_BINARY): RedisAvailability {
  const probe = spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (probe.error) return { ok: false, reason: `${binary} not runnable (${(probe.error as NodeJS.ErrnoException).code ?? probe.error.message}); install it with apt-get install redis-server` };
  const version = /v=(\d+)\.(\d+)\.(\d+)/.exec(probe.stdout);
  if (!version) return { ok: false, reason: `${binary} --version printed no version: ${JSON.stringify(probe.stdout.slice(0, 200))}` };
  if (Number(version[1]) < MIN_MAJOR) return { ok: false, reason: `${binary} is ${version[0]}; the backplane needs ${MIN_MAJOR}.0 or later` };
  return { ok: true, version: `${version[1]}.${version[2]}.${version[3]}` };
}

/** Starts a private redis-server on a free loopback port and resolves once it answers PING. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const startTimeoutMs = options.startTimeoutMs ?? 20_000;
  const config = { save: '', appendonly: 'no', ...options.config };
  // The free port can be taken between probe and bind; another port is then tried.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      const first = await launch(port, config, startTimeoutMs);
      return handle(port, config, startTimeoutMs, first);
    } catch (error) {
      if (!(error instanceof PortTakenError) || attempt === 5) throw error;
    }
  }
}

class PortTakenError extends Error {}

interface Launched {
  child: ChildProcess;
  exited: Promise<void>;
  output: () => string;
}

function handle(port: number, config: Record<string, string>, startTimeoutMs: number, first: Launched): RedisServer {
  let current = first;
  const url = `redis://127.0.0.1:${port}`;
  const running = (): boolean => current.child.exitCode === null && current.child.signalCode === null;
  const stopCurrent = async (): Promise<void> => {
    if (running()) {
      // A stopped (SIGSTOP) server would not act on SIGTERM until continued.
      current.child.kill('SIGCONT');
      current.child.kill('SIGTERM');
    }
    const timer = setTimeout(() => current.child.kill('SIGKILL'), 5000);
    await current.exited.finally(() => clearTimeout(timer));
  };
  return {
    url,
    port,
    get pid() {
      return current.child.pid!;
    },
    async cli(command, ...args) {
      const connection = new Redis({ host: '127.0.0.1', port, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
      connection.on('error', () => {});
      try {
        await connection.connect();
        return await connection.call(command, ...args);
      } finally {
        connection.disconnect();
      }
    },
    output: () => current.output(),
    async kill(signal) {
      if (!running()) return;
      current.child.kill(signal);
      if (signal !== 'SIGSTOP' && signal !== 'SIGCONT' && signal !== 'SIGTSTP') await current.exited;
    },
    stop: stopCurrent,
    async restart() {
      await stopCurrent();
      current = await launch(port, config, startTimeoutMs);
    },
  };
}

/** Spawns the server on `port` and waits until a real connection gets PONG. */
async function launch(port: number, config: Record<string, string>, timeoutMs: number): Promise<Launched> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--daemonize', 'no', '--dir', tmpdir(), '--logfile', ''];
  for (const [name, value] of Object.entries(config)) args.push(`--${name}`, value);
  const child = spawn(REDIS_BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const append = (chunk: string): void => {
    output = (output + chunk).slice(-MAX_OUTPUT_CHARS);
  };
  child.stdout!.setEncoding('utf8').on('data', append);
  child.stderr!.setEncoding('utf8').on('data', append);
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      process.off('exit', killOnExit);
      resolve();
    });
  });
  const spawnFailed = new Promise<never>((_, reject) => child.once('error', reject));
  const diedEarly = exited.then(() => {
    if (/Address already in use/i.test(output)) throw new PortTakenError(output);
    throw new Error(`redis-server exited before answering PING:\n${output}`);
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`redis-server did not answer PING within ${timeoutMs} ms:\n${output}`)), timeoutMs);
  });
  const connection = new Redis({ host: '127.0.0.1', port, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0,
    // Reconnects on each refused attempt until the server listens; the attempt is event-driven
    // (a refused connect), the delay only keeps it from spinning.
    retryStrategy: () => 20 });
  connection.on('error', () => {});
  const answered = (async () => {
    await new Promise<void>((resolve) => connection.once('ready', () => resolve()));
    const pong = await connection.ping();
    if (pong !== 'PONG') throw new Error(`redis-server answered PING with ${pong}`);
  })();
  connection.connect().catch(() => {});
  // Each loser of the race below settles later; those outcomes are already accounted for.
  for (const pending of [answered, spawnFailed, diedEarly]) pending.catch(() => {});
  try {
    await Promise.race([answered, spawnFailed, diedEarly, timedOut]);
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    throw error;
  } finally {
    clearTimeout(timer);
    connection.disconnect();
  }
  return { child, exited, output: () => output };
}

