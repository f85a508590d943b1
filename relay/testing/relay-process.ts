import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RELAY_NODE_FLAGS } from '../node-flags.js';

/**
 * The relay CLI as a real child process (`node --import tsx relay/cli.ts …`), for tests that need a real
 * process boundary: restarts, SIGKILL in the middle of writes, the SQLite file on disk.
 * `stop()` is idempotent and always leaves no child behind.
 */

const cli = fileURLToPath(new URL('../cli.ts', import.meta.url));
// The tsx loader inside one node process, not the `tsx` binary: that binary runs the script in a
// second process, which a SIGKILL of the first would leave running.
const tsxLoader = new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;

export interface RelayProcess {
  /** HTTP base URL, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  readonly wsUrl: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): { stdout: string; stderr: string };
  /** Sends `signal` (SIGTERM by default) and resolves with the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts the relay with `args` and resolves once it printed its listening line. */
export function startRelayProcess(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<RelayProcess> {
  const child = spawn(process.execPath, [...RELAY_NODE_FLAGS, '--import', tsxLoader, cli, ...args], { env: { ...process.env, SIDEBAND_ADMIN_KEY: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stopping: Promise<number | null> | undefined;
  const stop = (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
        child.stdout?.destroy();
        child.stderr?.destroy();
      }
    })();
    return stopping;
  };
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => fail(new Error(`relay did not start within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void stop('SIGKILL').then(() => reject(error));
    };
    child.once('error', fail);
    void exited.then((code) => fail(new Error(`relay exited with ${code} before listening; stderr: ${stderr}`)));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const match = /Relay listening on (http:\/\/[^\s]+) \(WebSocket (ws:\/\/[^\s)]+)\)/.exec(stdout);
      if (!match || settled) return;
      settled = true;
      clearTimeout(timer);
      const url = match[1]!;
      resolve({ url, wsUrl: match[2]!, port: Number(new URL(url).port), child, output: () => ({ stdout, stderr }), stop });
    });
  });
}
