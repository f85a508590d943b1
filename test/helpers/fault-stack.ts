import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelayProcess, type RelayProcess } from '../../relay/testing/relay-process.js';
import { ControlPlaneClient } from '../../node/control-plane-client.js';
import { controlPlaneTokens, type GetToken } from '../../client/session-token-source.js';
import { connect, type ConnectEvents, type ConnectOptions, type SidebandClient } from '../../client/connect.js';
import { MemoryPinStore } from '../../client/pin-store.js';
import { generateIdentity, type DaemonIdentity } from '../../daemon/identity.js';
import { toBase64Url } from '../../protocol/bytes.js';
import { forkChild, type ChildHandle } from './child-ipc.js';
import { FAST_RECONNECT } from './relay-fixture.js';

/**
 * The fault suites' stack: the relay CLI as a real child process with its SQLite data dir (so it
 * can be SIGKILLed and restarted on the same port and state), registered daemons, `connect()`
 * clients, and daemons served by listen() in child processes (fault-daemon-child.ts) that can be
 * SIGKILLed or SIGSTOPped. `close()` releases everything, whatever state the processes are in.
 */
export const FAULT_ADMIN_KEY = 'fault-suite-admin-key-0123456789';

export interface FaultDaemonReg {
  identity: DaemonIdentity;
  daemonId: string;
  apiKey: string;
}

export interface FaultEvent {
  event: string;
  [key: string]: unknown;
}

/** A listen() daemon in a child process, with its IPC events. */
export interface DaemonChild {
  readonly handle: ChildHandle;
  readonly pid: number;
  readonly events: FaultEvent[];
  /** The first event (already seen or future) matching `match`. */
  next(match: (event: FaultEvent) => boolean, what: string, timeoutMs?: number): Promise<FaultEvent>;
  /** SIGKILL: the process dies with all its state, no goodbye to anyone. */
  kill(): Promise<void>;
}

export interface FaultStack {
  /** The current relay process (a new one after `restartRelay`). */
  readonly relay: RelayProcess;
  readonly dir: string;
  readonly controlPlane: ControlPlaneClient;
  registerDaemon(): Promise<FaultDaemonReg>;
  tokens(reg: FaultDaemonReg): GetToken;
  client(reg: FaultDaemonReg, options?: Partial<ConnectOptions>): SidebandClient;
  spawnDaemon(reg: FaultDaemonReg): Promise<DaemonChild>;
  /** SIGKILLs the relay (if alive) and starts it again on the same port with the same data dir. */
  restartRelay(signal?: NodeJS.Signals): Promise<RelayProcess>;
  close(): Promise<void>;
}

export async function startFaultStack(options: { graceS?: number } = {}): Promise<FaultStack> {
  const dir = await mkdtemp(join(tmpdir(), 'sideband-fault-'));
  const args = (port: number): string[] => ['--port', String(port), '--data-dir', dir, '--grace', String(options.graceS ?? 10)];
  const env = { SIDEBAND_ADMIN_KEY: FAULT_ADMIN_KEY };
  let relay = await startRelayProcess(args(0), env);
  const port = relay.port;
  const clients: SidebandClient[] = [];
  const daemons: DaemonChild[] = [];
  const stack: FaultStack = {
    get relay() {
      return relay;
    },
    dir,
    // The URL stays the same across restarts (same port), so one client object serves throughout.
    controlPlane: new ControlPlaneClient({ baseUrl: relay.url }),
    async registerDaemon() {
      const identity = generateIdentity();
      const { daemonId, apiKey } = await stack.controlPlane.registerDaemon(FAULT_ADMIN_KEY, { identityPublicKey: toBase64Url(identity.publicKey) });
      return { identity, daemonId, apiKey };
    },
    tokens: (reg) => controlPlaneTokens({ baseUrl: relay.url, bearer: reg.apiKey, daemonId: reg.daemonId }),
    client(reg, clientOptions = {}) {
      const client = connect({ relay: relay.url, daemonId: reg.daemonId, getToken: stack.tokens(reg), pinStore: new MemoryPinStore(), reconnect: FAST_RECONNECT, ...clientOptions });
      clients.push(client);
      return client;
    },
    async spawnDaemon(reg) {
      const handle = forkChild('./fault-daemon-child.ts');
      const events: FaultEvent[] = [];
      const waiters = new Set<() => void>();
      handle.child.on('message', (message: FaultEvent) => {
        if (typeof message?.event !== 'string') return;
        events.push(message);
        for (const wake of [...waiters]) wake();
      });
      const exited = new Promise<void>((resolve) => handle.child.once('exit', () => resolve()));
      const { pid } = await handle.call<{ pid: number }>('start', { relay: relay.url, apiKey: reg.apiKey, seed: toBase64Url(reg.identity.seed) });
      const daemon: DaemonChild = {
        handle,
        pid,
        events,
        next(match, what, timeoutMs = 15_000) {
          return new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
              waiters.delete(check);
              reject(new Error(`timed out after ${timeoutMs} ms waiting for daemon event: ${what}`));
            }, timeoutMs);
            const check = (): void => {
              const found = events.find(match);
              if (!found) return;
              clearTimeout(timer);
              waiters.delete(check);
              resolve(found);
            };
            waiters.add(check);
            check();
          });
        },
        async kill() {
          if (handle.child.exitCode === null && handle.child.signalCode === null) handle.child.kill('SIGKILL');
          await exited;
        },
      };
      daemons.push(daemon);
      return daemon;
    },
    async restartRelay(signal = 'SIGKILL') {
      await relay.stop(signal);
      relay = await startRelayProcess(args(port), env);
      return relay;
    },
    async close() {
      await Promise.all(clients.splice(0).map((c) => c.close()));
      // A process left stopped by a test could not answer the exit request: let it run first.
      for (const d of daemons) if (d.handle.child.exitCode === null) d.handle.child.kill('SIGCONT');
      await Promise.all(daemons.splice(0).map((d) => d.handle.stop(3_000)));
      if (relay.child.exitCode === null) relay.child.kill('SIGCONT');
      await relay.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return stack;
}

/** The next `type` event of a client (matching `filter`), or a timeout error naming it. */
export function nextClientEvent<K extends keyof ConnectEvents>(client: SidebandClient, type: K, filter: (event: ConnectEvents[K]) => boolean = () => true, timeoutMs = 20_000): Promise<ConnectEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for client event ${type}`));
    }, timeoutMs);
    const off = client.on(type, (event) => {
      if (!filter(event)) return;
      clearTimeout(timer);
      off();
      resolve(event);
    });
  });
}

/** Every event of the given types, in order, as `type` or `type:code`. */
export function recordClientEvents(client: SidebandClient, types: readonly (keyof ConnectEvents)[]): string[] {
  const seen: string[] = [];
  for (const type of types) {
    client.on(type, (event) => {
      const code = (event as { error?: { code?: string } }).error?.code;
      seen.push(code ? `${type}:${code}` : type);
    });
  }
  return seen;
}
