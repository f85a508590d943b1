#!/usr/bin/env node
import { createReadStream } from 'node:fs';
import { access, constants } from 'node:fs/promises';
import { STATUS_CODES } from 'node:http';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { IdentityKeyChangedError } from '../protocol/errors.js';
import { errorCode } from '../node/errors.js';
import { connect, type ConnectOptions, type SidebandClient } from './connect.js';
import { FETCH_USAGE, parseFetchArgs, type FetchCliArgs } from './fetch-cli-args.js';
import { FilePinStore, type PinStore } from './pin-store.js';
import { controlPlaneTokens, type GetToken } from './session-token-source.js';

/** Exit codes of `sideband-fetch` (FETCH_USAGE lists them for users). */
export const FETCH_EXIT = Object.freeze({ ok: 0, noSession: 1, usage: 2, requestFailed: 3, identityChanged: 4, httpError: 22, interrupted: 130 });

export interface FetchCliIo {
  /** Response bytes (and the head with -i); resolves once the bytes are taken, for backpressure. */
  write: (chunk: Uint8Array) => Promise<void>;
  /** One diagnostic line (stderr). */
  err: (line: string) => void;
  /** The request body for `-d @-`. */
  stdin?: () => ReadableStream<Uint8Array>;
  /** Aborts the request (SIGINT). */
  signal?: AbortSignal;
}

export interface FetchCliDeps {
  /** How session tokens are obtained for the parsed auth; device credentials plug in here. */
  tokenSource?: (args: FetchCliArgs) => GetToken;
  pinStore?: (args: FetchCliArgs) => PinStore;
  /** Extra connect() options (tests shorten timeouts). */
  connectOptions?: Partial<ConnectOptions>;
}

/** Session tokens from the control plane, with the daemon's API key or the admin key as bearer. */
export function keyTokenSource(args: FetchCliArgs): GetToken {
  return controlPlaneTokens({ baseUrl: args.relay, bearer: args.auth.key, daemonId: args.daemonId });
}

const encoder = new TextEncoder();

/**
 * `sideband-fetch`: one HTTP request to a daemon over the session, like a tiny curl. Returns
 * the exit code (FETCH_EXIT).
 *
 *   tsx client/fetch-cli.ts --relay http://127.0.0.1:8787 --daemon ID --api-key KEY -i /api/hello
 */
export async function runFetchCli(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, io: FetchCliIo, deps: FetchCliDeps = {}): Promise<number> {
  const parsed = parseFetchArgs(argv, env);
  if (!parsed.ok) {
    io.err(`error: ${parsed.error}`);
    io.err('Run with --help for usage.');
    return FETCH_EXIT.usage;
  }
  if (parsed.help) {
    await io.write(encoder.encode(`${FETCH_USAGE}\n`));
    return FETCH_EXIT.ok;
  }
  const args = parsed.args;
  if (args.data?.kind === 'file') {
    try {
      await access(args.data.path, constants.R_OK);
    } catch {
      io.err(`error: cannot read ${JSON.stringify(args.data.path)} for -d`);
      return FETCH_EXIT.usage;
    }
  }

  const abort = new AbortController();
  const onAbort = () => abort.abort(io.signal?.reason);
  io.signal?.addEventListener('abort', onAbort, { once: true });
  const timer = args.timeoutMs > 0 ? setTimeout(() => abort.abort(new DOMException('timed out', 'TimeoutError')), args.timeoutMs) : undefined;
  const client = connect({
    relay: args.relay,
    daemonId: args.daemonId,
    getToken: (deps.tokenSource ?? keyTokenSource)(args),
    pinStore: deps.pinStore?.(args) ?? new FilePinStore(args.pins),
    ...deps.connectOptions,
  });
  let connected = false;
  try {
    const session = await firstSession(client, abort.signal);
    if (session !== undefined) return reportNoSession(io, args, session);
    connected = true;
    return await request(client, args, io, abort.signal);
  } catch (error) {
    if (io.signal?.aborted) {
      io.err('interrupted');
      return FETCH_EXIT.interrupted;
    }
    if (!connected) {
      io.err(`error: no session to daemon ${args.daemonId} within --timeout`);
      return FETCH_EXIT.noSession;
    }
    io.err(`error: ${describe(error)}`);
    return FETCH_EXIT.requestFailed;
  } finally {
    clearTimeout(timer);
    io.signal?.removeEventListener('abort', onAbort);
    await client.close();
  }
}

/** Resolves undefined once a session is open, or with the error of the first failed attempt: a CLI does not retry. */
function firstSession(client: SidebandClient, signal: AbortSignal): Promise<Error | undefined> {
  return new Promise((resolve, reject) => {
    const stop = new AbortController();
    const done = (value: Error | undefined) => {
      stop.abort();
      resolve(value);
    };
    client.on('disconnected', ({ error }) => done(error), { signal: stop.signal });
    client.on('closed', ({ error }) => done(error ?? new Error('client closed')), { signal: stop.signal });
    signal.addEventListener('abort', () => {
      stop.abort();
      reject(signal.reason);
    }, { signal: stop.signal });
    client.ready().then(() => done(undefined), (error: Error) => done(error));
  });
}

function reportNoSession(io: FetchCliIo, args: FetchCliArgs, error: Error): number {
  if (error instanceof IdentityKeyChangedError) {
    io.err(`error: identity_key_changed: daemon ${args.daemonId} presented a different identity key`);
    io.err(`  pinned   ${error.pinnedFingerprint}`);
    io.err(`  offered  ${error.offeredFingerprint}`);
    io.err(`Compare the fingerprint the daemon prints; only if it matches the offered one, remove the pin from ${args.pins}.`);
    return FETCH_EXIT.identityChanged;
  }
  io.err(`error: no session to daemon ${args.daemonId}: ${describe(error)}`);
  return FETCH_EXIT.noSession;
}

async function request(client: SidebandClient, args: FetchCliArgs, io: FetchCliIo, signal: AbortSignal): Promise<number> {
  const response = await client.fetch(args.path, { method: args.method, headers: args.headers, body: body(args, io), signal });
  if (args.include) {
    const head = [`HTTP ${response.status} ${STATUS_CODES[response.status] ?? ''}`.trimEnd()];
    for (const [name, value] of response.headers) if (name !== 'set-cookie') head.push(`${name}: ${value}`);
    for (const cookie of response.headers.getSetCookie()) head.push(`set-cookie: ${cookie}`);
    await io.write(encoder.encode(`${head.join('\r\n')}\r\n\r\n`));
  }
  if (args.fail && response.status >= 400) {
    await response.body?.cancel();
    io.err(`error: the daemon answered ${response.status}`);
    return FETCH_EXIT.httpError;
  }
  if (response.body) {
    // Awaiting each write keeps credit flowing only as fast as stdout drains.
    for await (const chunk of response.body) await io.write(chunk);
  }
  return FETCH_EXIT.ok;
}

function body(args: FetchCliArgs, io: FetchCliIo): RequestInit['body'] {
  const data = args.data;
  if (!data) return undefined;
  if (data.kind === 'text') return data.text;
  if (data.kind === 'stdin') return io.stdin?.() ?? (Readable.toWeb(process.stdin) as ReadableStream<Uint8Array>);
  return Readable.toWeb(createReadStream(data.path)) as ReadableStream<Uint8Array>;
}

function describe(error: unknown): string {
  const code = errorCode(error) ?? (error as Error)?.name;
  const message = (error as Error)?.message ?? String(error);
  return code ? `${code}: ${message}` : message;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const interrupt = new AbortController();
  process.once('SIGINT', () => interrupt.abort(new DOMException('interrupted', 'AbortError')));
  const code = await runFetchCli(process.argv.slice(2), process.env, {
    write: (chunk) =>
      new Promise<void>((resolve, reject) => {
        process.stdout.write(chunk, (error) => (error ? reject(error) : resolve()));
      }),
    err: (line) => process.stderr.write(`${line}\n`),
    signal: interrupt.signal,
  });
  process.exitCode = code;
  // Let stdout flush before leaving; stdin may still hold the process open after `@-`.
  process.stdout.end(() => process.exit(code));
}
