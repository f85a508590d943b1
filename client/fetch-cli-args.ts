import { homedir } from 'node:os';
import { join } from 'node:path';
import { checkRelayUrl } from '../web/relay-url.js';

/**
 * How the CLI obtains session tokens: a bearer key, or a paired device whose directory holds
 * `device.json` (the record) and `device-key.json` (the 0600 Ed25519 key; fetch-cli-device.ts).
 */
export type FetchCliAuth = { kind: 'api-key'; key: string } | { kind: 'admin-key'; key: string } | { kind: 'device'; dir: string };

/** `--pair CODE [--label NAME]`: redeem a Quick Connect code before anything else. */
export interface FetchCliPair {
  /** As typed: the relay normalizes it (case, dashes, spaces) and judges it. */
  code: string;
  label?: string;
}

/** Where the request body comes from. */
export type FetchCliData = { kind: 'text'; text: string } | { kind: 'file'; path: string } | { kind: 'stdin' };

export interface FetchCliArgs {
  /**
   * With key auth, always set. With device auth, set only when given (`--relay`, or
   * SIDEBAND_RELAY for `--pair`): the device record supplies it and must agree.
   */
  relay?: string;
  /** With key auth, always set. With device auth, only a `--daemon` flag, checked against the record. */
  daemonId?: string;
  auth: FetchCliAuth;
  /** Only with device auth. */
  pair?: FetchCliPair;
  pins: string;
  method: string;
  headers: [string, string][];
  data?: FetchCliData;
  include: boolean;
  fail: boolean;
  /** Whole-request deadline in ms; 0 for none. */
  timeoutMs: number;
  /** Undefined only with `--pair`: pair, then exit. */
  path?: string;
}

export type FetchParseResult = { ok: true; help: true } | { ok: true; help: false; args: FetchCliArgs } | { ok: false; error: string };

export const FETCH_USAGE = `Usage: tsx client/fetch-cli.ts [options] PATH
       tsx client/fetch-cli.ts --pair CODE --relay URL --device DIR [--label NAME] [options] [PATH]

Sends one HTTP request to a daemon over an end-to-end encrypted Sideband session and writes
the response body to stdout as it streams. PATH is the path and query, e.g. /api/hello?name=x.

Options:
  --relay URL           relay base URL, http(s)                  env SIDEBAND_RELAY
  --daemon ID           daemon id                                env SIDEBAND_DAEMON
  --api-key KEY         the daemon's API key                     env SIDEBAND_API_KEY
  --admin-key KEY       or the relay admin key                   env SIDEBAND_ADMIN_KEY
  --device DIR          or a paired device: DIR/device.json and  env SIDEBAND_DEVICE
                        DIR/device-key.json. --relay and --daemon then come from the
                        record (given as flags they must match it; the env ones are unused)
  --pair CODE           pair this device first, with a Quick Connect code from the daemon
                        (needs --relay and --device; creates the key if absent, saves the
                        record, pins the daemon), then send PATH if given, else exit 0
  --label NAME          with --pair: the name in the daemon's device list (<= 128 chars)
  --pins FILE           pinned daemon keys (created if absent)   env SIDEBAND_PINS
                        default ~/.sideband/pins.json
  -X, --request METHOD  HTTP method (default GET, or POST with -d)
  -H, --header 'N: V'   request header; repeatable (at most 64)
  -d, --data DATA       request body: text, @FILE (streamed), or @- for stdin
  -i, --include         print the status line and headers before the body
  -f, --fail            exit 22 without printing the body when the status is 400 or more
  --timeout SECONDS     give up after this long (default: no limit)
  -h, --help            show this help

A key and --device exclude each other: both as flags, or both only in env, is an error;
a flag beats the other kind's env.

Exit codes:
  0   the whole response arrived (any status unless --fail); with --pair and no PATH, paired
  1   no session: relay unreachable, token refused, daemon offline, session wait timed out;
      device_revoked (pair again); or --pair failed: code_not_found, code_expired,
      daemon_offline, quick_connect_disabled, invalid_request, ... (ask for a new code)
  2   bad flags; a --device DIR without a usable device.json and device-key.json
  3   the request failed after it was sent: stream reset, session lost mid-body, timeout
  4   the daemon's identity key differs from the pinned one (compare fingerprints, then re-pin),
      also when pairing; with --device, the pin is the key recorded at pairing
  22  --fail and the status was 400 or more
  130 interrupted (SIGINT)`;

const MAX_HEADERS = 64;
const MAX_VALUE_LENGTH = 16 * 1024;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** The relay's own limit (relay/control-plane/pairing.ts MAX_DEVICE_LABEL_LENGTH), in UTF-16 units as it counts. */
const MAX_LABEL_LENGTH = 128;
/**
 * A loose bound only: the relay normalizes codes (case, dashes, spaces, O/I/L) and answers
 * `invalid_request` for one it cannot read, so anything shorter goes to it unjudged.
 */
const MAX_CODE_LENGTH = 128;

type ValueName = 'relay' | 'daemon' | 'apiKey' | 'adminKey' | 'device' | 'pair' | 'label' | 'pins' | 'method' | 'data' | 'timeout';
const VALUE_FLAGS: Record<string, ValueName | 'header'> = {
  '--relay': 'relay',
  '--daemon': 'daemon',
  '--api-key': 'apiKey',
  '--admin-key': 'adminKey',
  '--device': 'device',
  '--pair': 'pair',
  '--label': 'label',
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

  const pick: Pick = (key, envName) => {
    if (values[key] !== undefined) return values[key];
    const fromEnv = env[envName];
    if (fromEnv === undefined || fromEnv === '') return undefined;
    if (fromEnv.length > MAX_VALUE_LENGTH || /\p{Cc}/u.test(fromEnv)) return { error: `${envName} is too long or contains control characters` };
    return fromEnv;
  };
  const pins = pick('pins', 'SIDEBAND_PINS');
  if (typeof pins === 'object') return fail(pins.error);
  const resolved = resolveAuth(values, pick);

  let relay: string | undefined;
  let daemonId: string | undefined;
  if ('auth' in resolved && resolved.auth.kind === 'device') {
    // The record outranks env (flag > record > env); --pair has no record yet, so env counts there.
    const pairRelay = values.pair !== undefined ? pick('relay', 'SIDEBAND_RELAY') : values.relay;
    if (typeof pairRelay === 'object') return fail(pairRelay.error);
    relay = pairRelay;
    daemonId = values.daemon;
    if (values.pair !== undefined && relay === undefined) return fail('--pair needs --relay (or SIDEBAND_RELAY): the relay the code came from');
    if (values.pair !== undefined && daemonId !== undefined) return fail('--pair learns the daemon from the code; leave out --daemon');
  } else {
    const envRelay = pick('relay', 'SIDEBAND_RELAY');
    const envDaemon = pick('daemon', 'SIDEBAND_DAEMON');
    if (typeof envRelay === 'object') return fail(envRelay.error);
    if (typeof envDaemon === 'object') return fail(envDaemon.error);
    relay = envRelay;
    daemonId = envDaemon;
    // Name a missing target before a missing key, as before device auth existed; errors that
    // decide which kind of auth applies (`first`) come before both.
    if (!('first' in resolved)) {
      if (relay === undefined) return fail('--relay (or SIDEBAND_RELAY) is required');
      if (daemonId === undefined) return fail('--daemon (or SIDEBAND_DAEMON) is required');
    }
  }
  if ('error' in resolved) return fail(resolved.error);
  const auth = resolved.auth;
  if (relay !== undefined) {
    const relayProblem = checkRelayUrl(relay);
    if (relayProblem) return fail(relayProblem);
  }
  if (daemonId !== undefined && !isDaemonId(daemonId)) return fail('--daemon must be 1 to 128 characters of A-Z, a-z, 0-9, _ and -');

  let pair: FetchCliPair | undefined;
  if (values.pair !== undefined) {
    if (values.pair.length > MAX_CODE_LENGTH) return fail(`--pair code is longer than ${MAX_CODE_LENGTH} characters`);
    pair = { code: values.pair };
    if (values.label !== undefined) {
      const label = values.label;
      // The owner's device list prints it: no control, bidi or unpaired surrogate characters.
      if (label.length > MAX_LABEL_LENGTH) return fail(`--label must be at most ${MAX_LABEL_LENGTH} characters`);
      if (/[\p{Cc}\p{Cs}\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/u.test(label)) return fail('--label must be printable text (no control or bidi characters)');
      pair.label = label;
    }
  } else if (values.label !== undefined) {
    return fail('--label names the device when pairing; it needs --pair');
  }

  if (path === undefined) {
    if (pair === undefined) return fail('PATH is required, e.g. /api/hello');
    if (values.method !== undefined || values.data !== undefined || headers.length > 0 || flags.include || flags.fail) {
      return fail('-X, -H, -d, -i and -f need a PATH');
    }
  } else {
    if (!path.startsWith('/')) return fail('PATH must start with "/"');
    if (path.length > MAX_VALUE_LENGTH || !/^\/[\x21-\x7e]*$/.test(path)) return fail('PATH must be visible ASCII without spaces (percent-encode the rest)');
  }

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
      auth,
      pair,
      pins: pins ?? join(homedir(), '.sideband', 'pins.json'),
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

type Pick = (key: ValueName, envName: string) => string | undefined | { error: string };

/**
 * Device auth and key auth exclude each other. A flag is the explicit choice and wins over env
 * (`--pair` chooses the device); both given as flags, or both only in env, is ambiguous.
 * `first` marks errors that decide which kind applies: they are reported before a missing
 * --relay or --daemon, which only key auth needs.
 */
function resolveAuth(values: Partial<Record<ValueName, string>>, pick: Pick): { auth: FetchCliAuth } | { error: string; first?: true } {
  const keyFlag = values.apiKey !== undefined || values.adminKey !== undefined;
  const deviceFlag = values.device !== undefined || values.pair !== undefined;
  if (keyFlag && deviceFlag) {
    const error = values.pair !== undefined ? '--pair enrolls a device key; it cannot be combined with --api-key or --admin-key' : 'give --device or a key (--api-key, --admin-key), not both';
    return { error, first: true };
  }
  const device = keyFlag ? undefined : pick('device', 'SIDEBAND_DEVICE');
  if (typeof device === 'object') return { ...device, first: true };
  const apiKey = deviceFlag ? undefined : keyFlag ? values.apiKey : pick('apiKey', 'SIDEBAND_API_KEY');
  if (typeof apiKey === 'object') return { ...apiKey, first: true };
  const adminKey = deviceFlag ? undefined : keyFlag ? values.adminKey : apiKey === undefined ? pick('adminKey', 'SIDEBAND_ADMIN_KEY') : undefined;
  if (typeof adminKey === 'object') return { ...adminKey, first: true };
  if (values.pair !== undefined && device === undefined) return { error: '--pair needs --device DIR (or SIDEBAND_DEVICE): where to keep the device key and record', first: true };
  if (device !== undefined) {
    if (!deviceFlag && (apiKey !== undefined || adminKey !== undefined)) {
      return { error: 'SIDEBAND_DEVICE and SIDEBAND_API_KEY / SIDEBAND_ADMIN_KEY are both set; choose with --device or --api-key / --admin-key', first: true };
    }
    return { auth: { kind: 'device', dir: device } };
  }
  if (apiKey !== undefined && adminKey !== undefined) return { error: 'give one of --api-key and --admin-key, not both' };
  const key = apiKey ?? adminKey;
  if (key === undefined) return { error: '--api-key or --admin-key (or SIDEBAND_API_KEY / SIDEBAND_ADMIN_KEY), or --device DIR (or SIDEBAND_DEVICE) is required' };
  if (!/^[\x21-\x7e]+$/.test(key)) return { error: `${apiKey !== undefined ? '--api-key' : '--admin-key'} must be printable ASCII without spaces` };
  return { auth: apiKey !== undefined ? { kind: 'api-key', key } : { kind: 'admin-key', key } };
}

/** Daemon ids as the control plane issues them; also checked on a device record's. */
export function isDaemonId(value: string): boolean {
  return /^[A-Za-z0-9_-]{1,128}$/.test(value);
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
