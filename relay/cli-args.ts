import type { RelayOptions } from './options.js';
import { DEFAULTS } from './options.js';

/** A bad flag or value: the CLI prints it with the usage hint and exits with code 2. */
export class CliUsageError extends Error {
  override readonly name: string = 'CliUsageError';
  readonly code = 'usage';
  readonly exitCode = 2;
}

export const USAGE = `Usage: tsx relay/cli.ts [options]

Starts the SBRP relay and its control plane on one HTTP port.

Options (environment variable in brackets):
  --port <n>               TCP port, 0 for any free one [SIDEBAND_RELAY_PORT] (default ${DEFAULTS.port})
  --host <addr>            bind address [SIDEBAND_RELAY_HOST] (default ${DEFAULTS.host})
  --admin-key <key>        control-plane admin key, at least 16 characters [SIDEBAND_ADMIN_KEY]
                           (generated and printed once when absent; prefer the variable: flags show in ps)
  --issuer <iss>           JWT issuer [SIDEBAND_RELAY_ISSUER] (default: public URL or "${DEFAULTS.issuer}")
  --public-url <url>       public base URL of this relay [SIDEBAND_RELAY_PUBLIC_URL]
  --jwks-url <url>         verify tokens against this remote JWKS [SIDEBAND_RELAY_JWKS_URL]
  --data-dir <dir>         keep control-plane state (daemons, devices, keys) in <dir>/control-plane.sqlite
                           [SIDEBAND_RELAY_DATA_DIR] (default: in memory, lost on restart)
  --quick-connect          enable Quick Connect pairing [SIDEBAND_RELAY_QUICK_CONNECT=1] (default off)
  --web-app-url <url>      web app that pairing links open [SIDEBAND_RELAY_WEB_APP_URL] (default: public URL)
  --grace <seconds>        daemon reconnect grace period [SIDEBAND_RELAY_GRACE] (default ${DEFAULTS.graceMs / 1000})
  --idle-timeout <seconds> close connections silent this long [SIDEBAND_RELAY_IDLE_TIMEOUT] (default ${DEFAULTS.limits.idleTimeoutMs / 1000})
  --max-connections <n>    [SIDEBAND_RELAY_MAX_CONNECTIONS] (default ${DEFAULTS.limits.maxConnections})
  --allowed-origins <a,b>  comma-separated browser Origin allowlist, e.g. http://127.0.0.1:5173, for the
                           WebSocket and (CORS) the HTTP API [SIDEBAND_RELAY_ALLOWED_ORIGINS]
                           (default: any Origin may connect, no CORS)
  --debug                  diagnostic text in Control frames, debug logs [SIDEBAND_RELAY_DEBUG=1]
  --help                   show this text
`;

export type CliCommand = { kind: 'help' } | { kind: 'run'; options: RelayOptions };

type FlagName =
  | 'port' | 'host' | 'admin-key' | 'issuer' | 'public-url' | 'jwks-url' | 'grace' | 'idle-timeout' | 'max-connections'
  | 'allowed-origins' | 'data-dir' | 'web-app-url' | 'quick-connect' | 'debug' | 'help';

const VALUE_FLAGS: ReadonlyMap<string, string> = new Map([
  ['port', 'SIDEBAND_RELAY_PORT'],
  ['host', 'SIDEBAND_RELAY_HOST'],
  ['admin-key', 'SIDEBAND_ADMIN_KEY'],
  ['issuer', 'SIDEBAND_RELAY_ISSUER'],
  ['public-url', 'SIDEBAND_RELAY_PUBLIC_URL'],
  ['jwks-url', 'SIDEBAND_RELAY_JWKS_URL'],
  ['grace', 'SIDEBAND_RELAY_GRACE'],
  ['idle-timeout', 'SIDEBAND_RELAY_IDLE_TIMEOUT'],
  ['max-connections', 'SIDEBAND_RELAY_MAX_CONNECTIONS'],
  ['allowed-origins', 'SIDEBAND_RELAY_ALLOWED_ORIGINS'],
  ['data-dir', 'SIDEBAND_RELAY_DATA_DIR'],
  ['web-app-url', 'SIDEBAND_RELAY_WEB_APP_URL'],
]);
const BOOLEAN_FLAGS: ReadonlySet<string> = new Set(['debug', 'help', 'quick-connect']);
const MAX_ARG_LENGTH = 4096;

/**
 * Parses CLI flags with environment fallbacks (a flag wins over its variable). Strict on
 * purpose: unknown flags, repeated flags, positional arguments and out-of-range values are
 * errors rather than silently ignored, so a typo never starts a relay with a default limit.
 */
export function parseRelayArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): CliCommand {
  const values = new Map<FlagName, string>();
  const flags = new Set<FlagName>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.length > MAX_ARG_LENGTH) throw new CliUsageError(`argument ${i + 1} is longer than ${MAX_ARG_LENGTH} characters`);
    if (!arg.startsWith('--') || arg === '--') throw new CliUsageError(`unexpected argument ${quote(arg)}`);
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    if (BOOLEAN_FLAGS.has(name)) {
      if (eq !== -1) throw new CliUsageError(`--${name} takes no value`);
      if (flags.has(name as FlagName)) throw new CliUsageError(`--${name} given twice`);
      flags.add(name as FlagName);
      continue;
    }
    if (!VALUE_FLAGS.has(name)) throw new CliUsageError(`unknown option ${quote(arg.slice(0, eq === -1 ? undefined : eq))}`);
    if (values.has(name as FlagName)) throw new CliUsageError(`--${name} given twice`);
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = argv[++i];
      if (value === undefined || value.startsWith('--')) throw new CliUsageError(`--${name} needs a value`);
      if (value.length > MAX_ARG_LENGTH) throw new CliUsageError(`value of --${name} is too long`);
    }
    values.set(name as FlagName, value);
  }
  if (flags.has('help')) return { kind: 'help' };

  const get = (name: FlagName): string | undefined => {
    const fromFlag = values.get(name);
    if (fromFlag !== undefined) return fromFlag;
    const variable = VALUE_FLAGS.get(name);
    const fromEnv = variable === undefined ? undefined : env[variable];
    if (fromEnv !== undefined && fromEnv.length > MAX_ARG_LENGTH) throw new CliUsageError(`${variable} is longer than ${MAX_ARG_LENGTH} characters`);
    return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
  };

  const options: RelayOptions = {};
  const port = get('port');
  if (port !== undefined) options.port = integer('port', port, 0, 65535);
  const host = get('host');
  if (host !== undefined) options.host = token('host', host);
  const adminKey = get('admin-key');
  if (adminKey !== undefined) {
    if (adminKey.length < 16 || /\s/.test(adminKey)) throw new CliUsageError('--admin-key must be at least 16 characters without spaces');
    options.adminKey = adminKey;
  }
  const issuer = get('issuer');
  if (issuer !== undefined) options.issuer = token('issuer', issuer);
  const publicUrl = get('public-url');
  if (publicUrl !== undefined) options.publicUrl = httpUrl('public-url', publicUrl);
  const jwksUrl = get('jwks-url');
  if (jwksUrl !== undefined) options.jwksUrl = httpUrl('jwks-url', jwksUrl);
  const grace = get('grace');
  if (grace !== undefined) options.graceMs = seconds('grace', grace);
  const idle = get('idle-timeout');
  const maxConnections = get('max-connections');
  if (idle !== undefined || maxConnections !== undefined) {
    options.limits = {};
    if (idle !== undefined) options.limits.idleTimeoutMs = seconds('idle-timeout', idle);
    if (maxConnections !== undefined) options.limits.maxConnections = integer('max-connections', maxConnections, 1, 1_000_000);
  }
  const origins = get('allowed-origins');
  if (origins !== undefined) options.allowedOrigins = origins.split(',').map((o) => origin(o.trim()));
  const dataDir = get('data-dir');
  if (dataDir !== undefined) options.dataDir = path('data-dir', dataDir);
  const webAppUrl = get('web-app-url');
  if (webAppUrl !== undefined) options.webAppUrl = httpUrl('web-app-url', webAppUrl);
  if (flags.has('quick-connect') || envFlag(env, 'SIDEBAND_RELAY_QUICK_CONNECT')) options.quickConnect = true;
  options.debug = flags.has('debug') || envFlag(env, 'SIDEBAND_RELAY_DEBUG');
  return { kind: 'run', options };
}

function envFlag(env: Readonly<Record<string, string | undefined>>, name: string): boolean {
  const value = env[name];
  if (value !== undefined && !['', '0', '1', 'true', 'false'].includes(value)) throw new CliUsageError(`${name} must be 1, 0, true or false`);
  return value === '1' || value === 'true';
}

function path(name: string, text: string): string {
  if (text.length === 0 || [...text].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) {
    throw new CliUsageError(`--${name} must be a path without control characters`);
  }
  return text;
}

function integer(name: string, text: string, min: number, max: number): number {
  if (!/^\d{1,7}$/.test(text)) throw new CliUsageError(`--${name} must be a whole number, got ${quote(text)}`);
  const value = Number(text);
  if (value < min || value > max) throw new CliUsageError(`--${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

/** Positive decimal seconds up to one day, returned in milliseconds. */
function seconds(name: string, text: string): number {
  if (!/^\d{1,6}(\.\d{1,3})?$/.test(text)) throw new CliUsageError(`--${name} must be a number of seconds, got ${quote(text)}`);
  const value = Number(text);
  if (value <= 0 || value > 86_400) throw new CliUsageError(`--${name} must be more than 0 and at most 86400 seconds`);
  return Math.round(value * 1000);
}

function token(name: string, text: string): string {
  if (text.length === 0 || /\s/.test(text) || [...text].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) throw new CliUsageError(`--${name} must be non-empty without spaces or control characters`);
  return text;
}

function httpUrl(name: string, text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CliUsageError(`--${name} is not a URL: ${quote(text)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliUsageError(`--${name} must be an http(s) URL`);
  return text;
}

/**
 * An Origin is exactly http(s)://host[:port] as browsers serialize it (lower case, no default
 * port, no path), because the relay compares it with the `Origin` header byte for byte.
 */
function origin(text: string): string {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  const web = url?.protocol === 'http:' || url?.protocol === 'https:';
  if (!web || url!.origin !== text) {
    const hint = web ? ` (browsers send ${quote(url!.origin)})` : '';
    throw new CliUsageError(`--allowed-origins entry ${quote(text)} is not an origin like https://app.example${hint}`);
  }
  return text;
}

/** Quotes user input for an error message, with control characters escaped. */
function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}
