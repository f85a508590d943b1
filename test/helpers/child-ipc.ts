import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Request/response over a forked child's IPC channel, for load tests that measure memory in a
 * process of its own. Children answer `{ id, result }` or `{ id, error }`.
 */
export interface ChildHandle {
  readonly child: ChildProcess;
  call<T>(type: string, payload?: unknown, timeoutMs?: number): Promise<T>;
  /** Asks the child to close and waits for its exit (SIGKILL after `timeoutMs`). */
  stop(timeoutMs?: number): Promise<void>;
}

export interface MemorySample {
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  rss: number;
}

/** Forks `script` (relative to this folder) with tsx; `nodeFlags` go to its node, e.g. the relay's (relay/node-flags.ts). */
export function forkChild(script: string, nodeFlags: readonly string[] = []): ChildHandle {
  const child = fork(fileURLToPath(new URL(script, import.meta.url)), [], {
    // CHILD_EXEC_ARGV adds flags to every child, e.g. '--cpu-prof --cpu-prof-dir=/tmp/prof' to
    // profile the relay and daemon of a bench (Node refuses --cpu-prof in NODE_OPTIONS).
    execArgv: ['--import', 'tsx', '--expose-gc', ...nodeFlags, ...(process.env.CHILD_EXEC_ARGV?.split(' ').filter(Boolean) ?? [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let nextId = 1;
  const waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  child.on('message', (message: { id: number; result?: unknown; error?: string }) => {
    const entry = waiting.get(message.id);
    if (!entry) return;
    waiting.delete(message.id);
    clearTimeout(entry.timer);
    if (message.error !== undefined) entry.reject(new Error(message.error));
    else entry.resolve(message.result);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code) => {
    for (const entry of waiting.values()) {
      clearTimeout(entry.timer);
      entry.reject(new Error(`${script} exited with ${code}`));
    }
    waiting.clear();
  });
  return {
    child,
    call<T>(type: string, payload?: unknown, timeoutMs = 30_000): Promise<T> {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`${script}: ${type} timed out`));
        }, timeoutMs);
        waiting.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
        child.send({ id, type, payload });
      });
    },
    async stop(timeoutMs = 5_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.send({ id: 0, type: 'exit' });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Child side: answers requests with `handlers[type](payload)`; `exit` runs `onExit` then exits. */
export function serveParent(handlers: Record<string, (payload: unknown) => unknown>, onExit: () => Promise<void>): void {
  process.on('message', (message: { id: number; type: string; payload?: unknown }) => {
    if (message.type === 'exit') {
      void onExit().finally(() => process.exit(0));
      return;
    }
    const handler = handlers[message.type];
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`unknown request ${message.type}`);
        return handler(message.payload);
      })
      .then(
        (result) => process.send?.({ id: message.id, result }),
        (error: Error) => process.send?.({ id: message.id, error: error.message }),
      );
  });
  process.on('disconnect', () => void onExit().finally(() => process.exit(0)));
}

/** Settled memory: two full GCs first, so the delta measures live objects. */
export async function settledMemory(): Promise<MemorySample> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const { heapUsed, external, arrayBuffers, rss } = process.memoryUsage();
  return { heapUsed, external, arrayBuffers, rss };
}
