#!/usr/bin/env node
import { createReadStream } from 'node:fs';
import { access, constants } from 'node:fs/promises';
import { STATUS_CODES } from 'node:http';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { fromBase64Url } from '../protocol/bytes.js';
import { IdentityKeyChangedError } from '../protocol/errors.js';
import { fingerprint } from '../protocol/fingerprint.js';
import { errorCode } from '../web/errors.js';
import { connect, type ConnectOptions, type SidebandClient } from './connect.js';
import { deviceTokenSource } from './device-token-source.js';
import { FETCH_USAGE, parseFetchArgs, type FetchCliArgs } from './fetch-cli-args.js';
import { checkAgainstRecord, deviceHint, loadDeviceCredentials, pairDevice, type DeviceCredentials, type DeviceStep } from './fetch-cli-device.js';
import { FilePinStore, samePin, type PinStore } from './pin-store.js';
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
  /** Replaces the token source the credentials select (key or device); gets the resolved target. */
  tokenSource?: (args: FetchCliArgs, target: FetchTarget) => GetToken;
  pinStore?: (args: FetchCliArgs) => PinStore;
  /** Extra connect() options (tests shorten timeouts). */
  connectOptions?: Partial<ConnectOptions>;
}

/** Where a run connects: from the flags and env, or from the paired-device record. */
export interface FetchTarget {
  relay: string;
  daemonId: string;
}

/** Session tokens from the control plane, with the daemon's API key or the admin key as bearer. */
export function keyTokenSource(key: string, target: FetchTarget, fetchImpl?: typeof fetch): GetToken {
  return controlPlaneTokens({ baseUrl: target.relay, bearer: key, daemonId: target.daemonId, ...(fetchImpl ? { fetch: fetchImpl } : {}) });
}

/**
 * The global fetch, remembering why the last call could not reach the relay: undici says only
 * `fetch failed` and keeps the reason (ECONNREFUSED, ENOTFOUND, …) in `cause`, which the
 * control-plane error drops.
 */
class RelayReach {
  lastFailure?: string;
  readonly fetch: typeof fetch = async (input, init) => {
    try {
      return await fetch(input, init);
    } catch (error) {
      this.lastFailure = networkCause(error);
      throw error;
    }
  };
}

/** The innermost `code` (or message) of an error's `cause` chain. */
function networkCause(error: unknown): string | undefined {
  let found: string | undefined;
  for (let e = error as { code?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 8; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string') found = e.code;
    else if (found === undefined && depth > 0 && typeof e.message === 'string') found = e.message;
  }
  return found;
}

const encoder = new TextEncoder();

/**
 * `sideband-fetch`: one HTTP request to a daemon over the session, like a tiny curl. Returns
 * the exit code (FETCH_EXIT).
 *
 *   tsx client/fetch-cli.ts --relay http://127.0.0.1:8787 --daemon ID --api-key KEY -i /api/hello
 *   tsx client/fetch-cli.ts --pair 7KQ2M-XD9RP-4TAVB-0HNZC-W3E8FJ --relay https://relay.example --device ~/.sideband/laptop
 *   tsx client/fetch-cli.ts --device ~/.sideband/laptop /api/hello
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
  const timer = args.timeoutMs > 0 ? setTimeout(() => abort.abort(new DOMException(`timeout after ${seconds(args.timeoutMs)} s`, 'TimeoutError')), args.timeoutMs) : undefined;
  const pinStore = deps.pinStore?.(args) ?? new FilePinStore(args.pins);
  const reach = new RelayReach();
  try {
    let resolved: { target: FetchTarget; getToken: GetToken } | number;
    try {
      resolved = await resolveTarget(args, io, pinStore, abort.signal, deps, reach);
    } catch (error) {
      if (!abort.signal.aborted) throw error;
      if (io.signal?.aborted) {
        io.err('interrupted');
        return FETCH_EXIT.interrupted;
      }
      io.err(`error: pairing did not finish: timeout after ${seconds(args.timeoutMs)} s`);
      return FETCH_EXIT.noSession;
    }
    if (typeof resolved === 'number') return resolved;
    // Only --pair may come without a PATH (parseFetchArgs): paired, nothing to send.
    if (args.path === undefined) return FETCH_EXIT.ok;
    return await send(args, args.path, resolved.target, resolved.getToken, pinStore, io, abort.signal, deps, reach);
  } finally {
    clearTimeout(timer);
    io.signal?.removeEventListener('abort', onAbort);
  }
}

/** The relay, daemon and token source of this run (pairing first with --pair), or an exit code once the reason is on stderr. */
async function resolveTarget(
  args: FetchCliArgs,
  io: FetchCliIo,
  pinStore: PinStore,
  signal: AbortSignal,
  deps: FetchCliDeps,
  reach: RelayReach,
): Promise<{ target: FetchTarget; getToken: GetToken } | number> {
  const auth = args.auth;
  if (auth.kind !== 'device') {
    // parseFetchArgs requires both with key auth; this keeps the type honest.
    if (args.relay === undefined || args.daemonId === undefined) return usageError(io, '--relay and --daemon are required with a key');
    const target = { relay: args.relay, daemonId: args.daemonId };
    return { target, getToken: deps.tokenSource?.(args, target) ?? keyTokenSource(auth.key, target, reach.fetch) };
  }
  let step: DeviceStep<DeviceCredentials>;
  if (args.pair) {
    if (args.relay === undefined) return usageError(io, '--pair needs --relay');
    step = await pairDevice(auth.dir, args.relay, args.pair, pinStore, signal, io.err, reach.fetch, () => reach.lastFailure);
  } else {
    step = await loadDeviceCredentials(auth.dir);
    const mismatch = step.ok ? checkAgainstRecord(args, step.value.device) : undefined;
    if (mismatch) return usageError(io, mismatch);
    if (step.ok) {
      const pinned = await pinRecordedKey(args, step.value, pinStore, io);
      if (pinned !== undefined) return pinned;
    }
  }
  if (!step.ok) {
    for (const line of step.lines) io.err(line);
    return FETCH_EXIT[step.exit];
  }
  const { device, key } = step.value;
  const target = { relay: device.relayUrl, daemonId: device.daemonId };
  return { target, getToken: deps.tokenSource?.(args, target) ?? deviceTokenSource(device, key, { fetch: reach.fetch }) };
}

/**
 * A paired device trusts the daemon key it received at pairing, not whatever key the first
 * handshake offers: the record's key seeds the pin store (a fresh pins file included), and a
 * pins file that already holds another key for this daemon stops the run with exit 4. Returns
 * an exit code, or undefined to go on.
 */
async function pinRecordedKey(args: FetchCliArgs, { device }: DeviceCredentials, pinStore: PinStore, io: FetchCliIo): Promise<number | undefined> {
  let recorded: Uint8Array;
  try {
    recorded = fromBase64Url(device.daemonIdentityPublicKey);
    if (recorded.length !== 32) throw new RangeError('not 32 bytes');
  } catch {
    return usageError(io, `device record in ${args.auth.kind === 'device' ? args.auth.dir : '--device'}: daemonIdentityPublicKey is not a 32-byte base64url key; pair again`);
  }
  let inForce: Uint8Array;
  try {
    inForce = await pinStore.pin(device.daemonId, recorded);
  } catch (error) {
    return usageError(io, `cannot use the pins file ${args.pins}: ${describe(error)}`);
  }
  if (samePin(inForce, recorded)) return undefined;
  io.err(`error: identity_key_changed: ${args.pins} pins daemon ${device.daemonId} to another identity key than the one this device was paired with`);
  io.err(`  pinned   ${fingerprint(inForce)}`);
  io.err(`  paired   ${fingerprint(recorded)}`);
  io.err('Compare both with the fingerprint the daemon prints; if the daemon changed its identity, pair this device again with a new code.');
  return FETCH_EXIT.identityChanged;
}

/** Opens one session and sends the request. */
async function send(
  args: FetchCliArgs,
  path: string,
  target: FetchTarget,
  getToken: GetToken,
  pinStore: PinStore,
  io: FetchCliIo,
  signal: AbortSignal,
  deps: FetchCliDeps,
  reach: RelayReach,
): Promise<number> {
  const client = connect({ relay: target.relay, daemonId: target.daemonId, getToken, pinStore, ...deps.connectOptions });
  // TOFU (sbrp.md §5): the user can only compare what they were shown.
  client.on('open', (event) => {
    if (event.firstContact) io.err(`first contact with daemon ${target.daemonId}: pinned its identity key ${event.fingerprint} in ${args.pins}; compare it with the fingerprint the daemon prints`);
  });
  let connected = false;
  try {
    const session = await firstSession(client, signal);
    if (session !== undefined) return reportNoSession(io, args, target, session, reach);
    connected = true;
    return await request(client, args, path, io, signal);
  } catch (error) {
    if (io.signal?.aborted) {
      io.err('interrupted');
      return FETCH_EXIT.interrupted;
    }
    const timedOut = signal.aborted && (signal.reason as Error | undefined)?.name === 'TimeoutError';
    if (!connected) {
      io.err(`error: no session to daemon ${target.daemonId}: timeout after ${seconds(args.timeoutMs)} s`);
      return FETCH_EXIT.noSession;
    }
    io.err(`error: ${timedOut ? `timeout after ${seconds(args.timeoutMs)} s` : describe(error)}`);
    return FETCH_EXIT.requestFailed;
  } finally {
    await client.close();
  }
}

function usageError(io: FetchCliIo, message: string): number {
  io.err(`error: ${message}`);
  io.err('Run with --help for usage.');
  return FETCH_EXIT.usage;
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

function reportNoSession(io: FetchCliIo, args: FetchCliArgs, target: FetchTarget, error: Error, reach: RelayReach): number {
  if (error instanceof IdentityKeyChangedError) {
    io.err(`error: identity_key_changed: daemon ${target.daemonId} presented a different identity key`);
    io.err(`  pinned   ${error.pinnedFingerprint}`);
    io.err(`  offered  ${error.offeredFingerprint}`);
    io.err(
      args.auth.kind === 'device'
        ? 'Compare the fingerprint the daemon prints; only if it matches the offered one, pair this device again with a new code (the pin comes from pairing).'
        : `Compare the fingerprint the daemon prints; only if it matches the offered one, remove the pin from ${args.pins}.`,
    );
    return FETCH_EXIT.identityChanged;
  }
  const code = errorCode(error);
  if (code === 'network_error' || code === 'connection_failed') {
    // undici's `fetch failed` and ws's `connect ECONNREFUSED …` hide the one word that helps.
    const cause = reach.lastFailure ?? /\b(E[A-Z_]{3,})\b/.exec(error.message)?.[1] ?? error.message;
    io.err(`error: cannot reach the relay at ${target.relay}: ${cause}`);
    return FETCH_EXIT.noSession;
  }
  io.err(`error: no session to daemon ${target.daemonId}: ${describe(error)}`);
  // device_revoked and friends: the device's credentials are dead, retrying will not help.
  const hint = args.auth.kind === 'device' ? deviceHint(error) : undefined;
  if (hint) io.err(hint);
  return FETCH_EXIT.noSession;
}

async function request(client: SidebandClient, args: FetchCliArgs, path: string, io: FetchCliIo, signal: AbortSignal): Promise<number> {
  const response = await client.fetch(path, { method: args.method, headers: args.headers, body: body(args, io), signal });
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

function seconds(ms: number): string {
  return String(ms / 1000);
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
