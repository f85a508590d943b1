import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runFetchCli, type FetchCliDeps } from '../../client/fetch-cli.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Runs `tsx client/fetch-cli.ts ARGS` as a real process with only PATH and HOME (plus `env`); resolves with its exit code and output. */
export function fetchCliProcess(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'client/fetch-cli.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr })));
}

/** runFetchCli in this process with an empty env, output collected; `stdin` parts feed `-d @-`. */
export async function fetchCli(args: string[], stdin?: string[], deps: FetchCliDeps = {}): Promise<{ code: number; stdout: string; stderr: string[] }> {
  const chunks: Uint8Array[] = [];
  const stderr: string[] = [];
  const io = {
    write: async (chunk: Uint8Array) => void chunks.push(chunk),
    err: (line: string) => stderr.push(line),
    stdin: stdin && (() => ReadableStream.from(stdin.map((part) => new TextEncoder().encode(part)))),
  };
  const code = await runFetchCli(args, {}, io, { connectOptions: { sessionWaitMs: 5_000 }, ...deps });
  return { code, stdout: Buffer.concat(chunks).toString(), stderr };
}
