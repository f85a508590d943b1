import { homedir } from 'node:os';
import { join } from 'node:path';
import { checkRelayUrl } from '../node/relay-url.js';

/** How the CLI obtains session tokens. Device credentials join this union later. */
export type FetchCliAuth = { kind: 'api-key'; key: string } | { kind: 'admin-key'; key: string };

/** Where the request body comes from. */
export type FetchCliData = { kind: 'text'; text: string } | { kind: 'file'; path: string } | { kind: 'stdin' };

export interface FetchCliArgs {
  relay: string;
  daemonId: string;
  auth: FetchCliAuth;
  pins: string;
  method: string;
  headers: [string, string][];
  data?: FetchCliData;
  include: boolean;
  fail: boolean;
  /** Whole-request deadline in ms; 0 for none. */
  timeoutMs: number;
  path: string;
}

export type FetchParseResult = { ok: true; help: true } | { ok: true; help: false; args: FetchCliArgs } | { ok: false; error: string };

export const FETCH_USAGE = `Usage: tsx client/fetch-cli.ts [options] PATH

Sends one HTTP request to a daemon over an end-to-end encrypted Sideband session and writes
the response body to stdout as it streams. PATH is the path and query, e.g. /api/hello?name=x.

Options:
  --relay URL           relay base URL, http(s)                  env SIDEBAND_RELAY
  --daemon ID           daemon id                                env SIDEBAND_DAEMON
  --api-key KEY         the daemon's API key                     env SIDEBAND_API_KEY
  --admin-key KEY       or the relay admin key                   env SIDEBAND_ADMIN_KEY
  --pins FILE           pinned daemon keys (created if absent)   env SIDEBAND_PINS
                        default ~/.sideband/pins.json
  -X, --request METHOD  HTTP method (default GET, or POST with -d)
  -H, --header 'N: V'   request header; repeatable (at most 64)
  -d, --data DATA       request body: text, @FILE (streamed), or @- for stdin
  -i, --include         print the status line and headers before the body
  -f, --fail            exit 22 without printing the body when the status is 400 or more
  --timeout SECONDS     give up after this long (default: no limit)
  -h, --help            show this help

Exit codes:
  0   the whole response arrived (any status unless --fail)
  1   no session: relay unreachable, token refused, daemon offline, session wait timed out
  2   bad flags
  3   the request failed after it was sent: stream reset, session lost mid-body, timeout
  4   the daemon's identity key differs from the pinned one (compare fingerprints, then re-pin)
  22  --fail and the status was 400 or more
  130 interrupted (SIGINT)`;

const MAX_HEADERS = 64;
const MAX_VALUE_LENGTH = 16 * 1024;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

type ValueName = 'relay' | 'daemon' | 'apiKey' | 'adminKey' | 'pins' | 'method' | 'data' | 'timeout';
const VALUE_FLAGS: Record<string, ValueName | 'header'> = {
  '--relay': 'relay',
  '--daemon': 'daemon',
  '--api-key': 'apiKey',
  '--admin-key': 'adminKey',
  '--pins': 'pins',
  '-X': 'method',
  '--request': 'method',
  '-H': 'header',
  '--header': 'header',
  '-d': 'data',
  '--data': 'data',
  '--timeout': 'timeout',
};
const BOOLEAN_FLAGS: Record<string, 'include' | 'fail' | 'help'> = { '-i': 'include', '--include': 'include', '-f': 'fail', '--fail': 'fail', '-h': 'help', '--help': 'help' };
/** Values that may look like flags: a header or a body can legitimately start with "-". */
const FREE_VALUES = new Set<string>(['header', 'data']);

/**
 * Parses argv (without `node` and the script) with env fallbacks. Never throws; errors name
 * the flag, never a secret value.
 *
 *   parseFetchArgs(['--relay', url, '--daemon', id, '--api-key', key, '/api/hello'], process.env)
 */
export function parseFetchArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): FetchParseResult {
  const values: Partial<Record<ValueName, string>> = {};
  const headers: [string, string][] = [];
  const flags = { include: false, fail: false, help: false };
  const seen = new Set<string>();
  let path: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (typeof arg !== 'string') return fail(`argument ${i + 1} is not a string`);
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const boolean = BOOLEAN_FLAGS[name];
    if (boolean && Object.hasOwn(BOOLEAN_FLAGS, name)) {
      if (eq > 0) return fail(`${name} takes no value`);
      if (seen.has(boolean)) return fail(`${name} given twice`);
      seen.add(boolean);
      flags[boolean] = true;
      continue;
    }
    const target = Object.hasOwn(VALUE_FLAGS, name) ? VALUE_FLAGS[name] : undefined;
    if (!target) {
      if (arg.startsWith('-')) return fail(`unknown option ${printable(name)}`);
      if (path !== undefined) return fail(`unexpected argument ${printable(arg)} (PATH was already given)`);
      path = arg;
      continue;
    }
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (typeof value !== 'string' || (!FREE_VALUES.has(target) && value.startsWith('-') && value.length > 1 && (Object.hasOwn(VALUE_FLAGS, value) || Object.hasOwn(BOOLEAN_FLAGS, value) || value.startsWith('--')))) {
        return fail(`${name} needs a value`);
      }
      i++;
    }
    if (value.length > MAX_VALUE_LENGTH && target !== 'data') return fail(`${name} value is longer than ${MAX_VALUE_LENGTH} characters`);
    if (target === 'header') {
      if (headers.length >= MAX_HEADERS) return fail(`at most ${MAX_HEADERS} headers`);
      const header = parseHeader(value);
      if (typeof header === 'string') return fail(header);
      headers.push(header);
      continue;
    }
    if (seen.has(target)) return fail(`${name} given twice`);
    seen.add(target);
    if (target !== 'data') {
      if (value === '') return fail(`${name} needs a non-empty value`);
      if (/\p{Cc}/u.test(value)) return fail(`${name} value contains control characters`);
    }
    values[target] = value;
  }
  if (flags.help) return { ok: true, help: true };

  const pick = (key: ValueName, envName: string): string | undefined | { error: string } => {
    if (values[key] !== undefined) return values[key];
    const fromEnv = env[envName];
    if (fromEnv === undefined || fromEnv === '') return undefined;
    if (fromEnv.length > MAX_VALUE_LENGTH || /\p{Cc}/u.test(fromEnv)) return { error: `${envName} is too long or contains control characters` };
    return fromEnv;
  };
  const relay = pick('relay', 'SIDEBAND_RELAY');
  const daemonId = pick('daemon', 'SIDEBAND_DAEMON');
  const pins = pick('pins', 'SIDEBAND_PINS');
  // A key given as a flag wins over both env keys: the flag is the explicit choice.
  const flagKey = values.apiKey !== undefined || values.adminKey !== undefined;
  const apiKey = flagKey ? values.apiKey : pick('apiKey', 'SIDEBAND_API_KEY');
  const adminKey = flagKey ? values.adminKey : apiKey === undefined ? pick('adminKey', 'SIDEBAND_ADMIN_KEY') : undefined;
  for (const v of [relay, daemonId, pins, apiKey, adminKey]) if (typeof v === 'object') return fail(v.error);

  if (typeof relay !== 'string') return fail('--relay (or SIDEBAND_RELAY) is required');
  const relayProblem = checkRelayUrl(relay);
  if (relayProblem) return fail(relayProblem);
  if (typeof daemonId !== 'string') return fail('--daemon (or SIDEBAND_DAEMON) is required');
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(daemonId)) return fail('--daemon must be 1 to 128 characters of A-Z, a-z, 0-9, _ and -');
  if (typeof apiKey === 'string' && typeof adminKey === 'string') return fail('give one of --api-key and --admin-key, not both');
  const key = (apiKey ?? adminKey) as string | undefined;
  if (key === undefined) return fail('--api-key or --admin-key (or SIDEBAND_API_KEY / SIDEBAND_ADMIN_KEY) is required');
  if (!/^[\x21-\x7e]+$/.test(key)) return fail(`${apiKey !== undefined ? '--api-key' : '--admin-key'} must be printable ASCII without spaces`);

  if (path === undefined) return fail('PATH is required, e.g. /api/hello');
  if (!path.startsWith('/')) return fail('PATH must start with "/"');
  if (path.length > MAX_VALUE_LENGTH || !/^\/[\x21-\x7e]*$/.test(path)) return fail('PATH must be visible ASCII without spaces (percent-encode the rest)');

  const data = values.data === undefined ? undefined : parseData(values.data);
  let method = values.method ?? (data ? 'POST' : 'GET');
  if (!TOKEN.test(method) || method.length > 32) return fail('-X must be an HTTP method token of at most 32 characters');
  if (values.method === undefined) method = method.toUpperCase();
  if (data && (method === 'GET' || method === 'HEAD')) return fail(`-d cannot be used with ${method}`);

  let timeoutMs = 0;
  if (values.timeout !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(values.timeout)) return fail('--timeout must be a number of seconds');
    timeoutMs = Math.round(Number(values.timeout) * 1000);
    if (timeoutMs <= 0 || timeoutMs > 24 * 3600 * 1000) return fail('--timeout must be between 0.001 and 86400 seconds');
  }

  return {
    ok: true,
    help: false,
    args: {
      relay,
      daemonId,
      auth: apiKey !== undefined ? { kind: 'api-key', key } : { kind: 'admin-key', key },
      pins: (pins as string | undefined) ?? join(homedir(), '.sideband', 'pins.json'),
      method,
      headers,
      data,
      include: flags.include,
      fail: flags.fail,
      timeoutMs,
      path,
    },
  };
}

function parseHeader(value: string): [string, string] | string {
  const colon = value.indexOf(':');
  if (colon <= 0) return '-H must look like "Name: value"';
  const name = value.slice(0, colon).trim();
  const headerValue = value.slice(colon + 1).trim();
  if (!TOKEN.test(name)) return '-H header name must be an HTTP token';
  // CR, LF and NUL would let a value smuggle a second header (docs/protocol.md §3).
  if (/[\r\n\0]/.test(headerValue) || !/^[\t\x20-\x7e\x80-\xff]*$/.test(headerValue)) return `-H value of ${name} contains control characters`;
  return [name, headerValue];
}

function parseData(value: string): FetchCliData {
  if (value === '@-') return { kind: 'stdin' };
  if (value.startsWith('@') && value.length > 1) return { kind: 'file', path: value.slice(1) };
  return { kind: 'text', text: value };
}

function printable(arg: string): string {
  return JSON.stringify(arg.length > 40 ? `${arg.slice(0, 40)}…` : arg);
}

function fail(error: string): FetchParseResult {
  return { ok: false, error };
}
