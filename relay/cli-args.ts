import { HEADER_LENGTH, MAX_PAYLOAD } from '../protocol/codes.js';
import type { RelayLimits, RelayOptions } from './options.js';
import { DEFAULT_LIMITS, DEFAULTS } from './options.js';
import { DEFAULT_CLUSTER_TIMERS, type ClusterTimers } from './cluster/cluster-options.js';
import { NODE_ID_PATTERN } from './cluster/envelope-codec.js';

/** A bad flag or value: the CLI prints it with the usage hint and exits with code 2. */
export class CliUsageError extends Error {
  override readonly name: string = 'CliUsageError';
  readonly code = 'usage';
  readonly exitCode = 2;
}


type Limits = Partial<RelayLimits>;

/**
 * One CLI flag per field of DEFAULT_LIMITS (rates as two flags), each with its variable, unit and
 * sane range. A value outside the range is a usage error (exit 2), never clamped: a typo must
 * not start a relay with a limit nobody chose. Durations are seconds (decimals allowed) like
 * `--grace`; the rest are whole numbers.
 */
interface LimitFlag {
  flag: string;
  env: string;
  unit: 'count' | 'bytes' | 'seconds' | 'per-second' | 'per-minute';
  min: number;
  max: number;
  help: string;
  /** The default as shown in --help. */
  shown: string;
  apply(limits: Limits, value: number): void;
}

const D = DEFAULT_LIMITS;
const envName = (flag: string): string => `SIDEBAND_RELAY_${flag.toUpperCase().replace(/-/g, '_')}`;
const count = (flag: string, field: NumericLimit, min: number, max: number, help: string, unit: 'count' | 'bytes' = 'count'): LimitFlag =>
  ({ flag, env: envName(flag), unit, min, max, help, shown: String(D[field]), apply: (l, v) => void (l[field] = v) });
const duration = (flag: string, field: NumericLimit, maxS: number, help: string): LimitFlag =>
  ({ flag, env: envName(flag), unit: 'seconds', min: 0.001, max: maxS, help, shown: String(D[field] / 1000), apply: (l, v) => void (l[field] = v) });
const rate = (flag: string, field: 'clientRate' | 'daemonRate', part: 'perSecond' | 'burst', max: number, help: string): LimitFlag =>
  ({ flag, env: envName(flag), unit: part === 'perSecond' ? 'per-second' : 'count', min: 1, max, help, shown: String(D[field][part]),
    apply: (l, v) => void (l[field] = { ...(l[field] ?? D[field]), [part]: v }) });
const perIp = (flag: string, field: 'redeemPerIp' | 'deviceAuthPerIp', part: 'perMinute' | 'burst', max: number, help: string): LimitFlag =>
  ({ flag, env: envName(flag), unit: part === 'perMinute' ? 'per-minute' : 'count', min: 1, max, help, shown: String(D[field][part]),
    apply: (l, v) => void (l[field] = { ...(l[field] ?? D[field]), [part]: v }) });

type NumericLimit = { [K in keyof RelayLimits]: RelayLimits[K] extends number ? K : never }[keyof RelayLimits];

const GIB = 1024 * 1024 * 1024;
export const LIMIT_FLAGS: readonly LimitFlag[] = [
  count('max-connections', 'maxConnections', 1, 1_000_000, 'open sockets + upgrades being authenticated'),
  count('max-sessions-per-daemon', 'maxSessionsPerDaemon', 1, 1_000_000, 'live client sessions of one daemon'),
  rate('client-rate', 'clientRate', 'perSecond', 10_000_000, 'messages per second of one client connection'),
  rate('client-burst', 'clientRate', 'burst', 100_000_000, 'message burst of one client connection'),
  rate('daemon-rate', 'daemonRate', 'perSecond', 10_000_000, 'messages per second of one daemon connection'),
  rate('daemon-burst', 'daemonRate', 'burst', 100_000_000, 'message burst of one daemon connection'),
  duration('rate-notice-interval', 'rateNoticeIntervalMs', 3600, 'at most one rate_limited Control per connection per this long'),
  count('max-buffered-bytes', 'maxBufferedBytes', 65_536, GIB, 'send buffer of a connection before backpressure', 'bytes'),
  count('max-held-bytes', 'maxHeldBytes', D.maxMessageBytes, GIB, 'client frames held for a paused session', 'bytes'),
  duration('idle-timeout', 'idleTimeoutMs', 86_400, 'close connections silent this long'),
  duration('close-timeout', 'closeTimeoutMs', 600, 'close handshake before the socket is destroyed'),
  count('max-token-length', 'maxTokenLength', 256, 65_536, 'longest accepted token, characters'),
  count('max-body-bytes', 'maxBodyBytes', 1024, 1024 * 1024, 'largest JSON body of the HTTP API', 'bytes'),
  count('max-remembered-sids', 'maxRememberedSids', 1000, 10_000_000, 'single-use sids (and revoked devices) remembered'),
  count('max-message-bytes', 'maxMessageBytes', HEADER_LENGTH + MAX_PAYLOAD, 16 * 1024 * 1024, 'largest WebSocket message (ws maxPayload)', 'bytes'),
  count('quick-connects-per-minute', 'quickConnectsPerMinute', 1, 10_000, 'Quick Connect codes per daemon per minute'),
  count('max-devices-per-daemon', 'maxDevicesPerDaemon', 1, 100_000, 'unrevoked devices per daemon'),
  count('max-challenges-per-device', 'maxChallengesPerDevice', 1, 1000, 'outstanding challenges per device'),
  perIp('redeem-rate', 'redeemPerIp', 'perMinute', 1_000_000, 'Quick Connect redeems per minute per client address'),
  perIp('redeem-burst', 'redeemPerIp', 'burst', 1_000_000, 'Quick Connect redeem burst per client address'),
  perIp('device-auth-rate', 'deviceAuthPerIp', 'perMinute', 1_000_000, 'device challenge + token requests per minute per address'),
  perIp('device-auth-burst', 'deviceAuthPerIp', 'burst', 1_000_000, 'device challenge + token burst per client address'),
  count('max-tracked-ips', 'maxTrackedIps', 100, 10_000_000, 'client addresses each per-IP limiter remembers'),
  count('max-log-lines', 'maxLogLines', 1, 1_000_000, 'info/warn/error log lines per log interval (rest summarized)'),
  duration('log-interval', 'logIntervalMs', 3600, 'window of --max-log-lines'),
  count('cross-node-window', 'crossNodeWindowBytes', HEADER_LENGTH + MAX_PAYLOAD, GIB, 'cluster: in-flight bytes per session and direction over Redis', 'bytes'),
  duration('cross-node-stall-timeout', 'crossNodeStallTimeoutMs', 3600, 'cluster: a session out of credit this long gets backpressure'),
];

/** Backplane timers (cluster-options.ts), as seconds like the limits; only with --backplane redis. */
interface TimerFlag {
  flag: string;
  env: string;
  field: keyof ClusterTimers;
  max: number;
  help: string;
}
const T = DEFAULT_CLUSTER_TIMERS;
export const CLUSTER_TIMER_FLAGS: readonly TimerFlag[] = [
  { flag: 'lease-ttl', env: envName('lease-ttl'), field: 'leaseTtlMs', max: 3600, help: 'owner lease TTL of a daemon' },
  { flag: 'lease-renew', env: envName('lease-renew'), field: 'leaseRenewMs', max: 3600, help: 'lease renewal (and session registry refresh) interval' },
  { flag: 'node-heartbeat', env: envName('node-heartbeat'), field: 'heartbeatMs', max: 3600, help: 'node heartbeat and peer check interval' },
  { flag: 'node-dead-after', env: envName('node-dead-after'), field: 'deadAfterMs', max: 3600, help: 'a node silent this long is dead' },
  { flag: 'probe-interval', env: envName('probe-interval'), field: 'probeIntervalMs', max: 3600, help: 'idle time before the inbox liveness probe' },
];
const timerHelp = CLUSTER_TIMER_FLAGS.map((t) =>
  `${`  --${t.flag} <seconds>`.padEnd(36)}${t.help}\n${' '.repeat(36)}[${t.env}] (default ${T[t.field] / 1000})`).join('\n');

/** A flag and its value in the first column of --help; one too long for it gets a line of its own. */
const helpColumn = (head: string): string => (head.length < 36 ? head.padEnd(36) : `${head}\n${' '.repeat(36)}`);

const UNIT_LABEL: Record<LimitFlag['unit'], string> = { count: '<n>', bytes: '<bytes>', seconds: '<seconds>', 'per-second': '<n/s>', 'per-minute': '<n/min>' };
const limitHelp = LIMIT_FLAGS.map((l) => {
  const head = `  --${l.flag} ${UNIT_LABEL[l.unit]}`;
  return `${helpColumn(head)}${l.help}\n${' '.repeat(36)}[${l.env}] (default ${l.shown}; ${l.min}..${l.max})`;
}).join('\n');

export const USAGE = `Usage: npm run relay -- [options]
   or: node --initial-old-space-size=64 --import tsx relay/cli.ts [options]

Starts the SBRP relay and its control plane on one HTTP port. The node flag keeps forwarding
from running full garbage collections (relay/node-flags.ts).

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
  --allowed-origins <a,b>  comma-separated browser Origin allowlist, e.g. http://127.0.0.1:5173, for the
                           WebSocket and (CORS) the HTTP API [SIDEBAND_RELAY_ALLOWED_ORIGINS]
                           (default: any Origin may connect, no CORS)
  --metrics-token <token>  require Authorization: Bearer <token> on /metrics, at least 16 characters
                           [SIDEBAND_RELAY_METRICS_TOKEN] (default: /metrics open; prefer the variable)
  --trust-proxy            per-IP limits use the last X-Forwarded-For entry; only behind a proxy that
                           sets it [SIDEBAND_RELAY_TRUST_PROXY=1] (default off: the socket address)
  --backplane <kind>       memory (one process, the default) or redis (several nodes sharing one Redis)
                           [SIDEBAND_RELAY_BACKPLANE]
  --redis <url>            redis:// or rediss:// URL of the Redis 7+ (or Valkey) backplane, required with
                           --backplane redis [SIDEBAND_RELAY_REDIS_URL]
  --node-id <id>           this node's id in the cluster, 1..64 of A-Z a-z 0-9 . _ - [SIDEBAND_RELAY_NODE_ID]
                           (default: <hostname>-<pid>)
  --control-plane-url <u>  this node is not the control-plane writer: forward the /v1 API and the JWKS to
                           that URL and verify tokens against its JWKS [SIDEBAND_RELAY_CONTROL_PLANE_URL]
  --debug                  diagnostic text in Control frames, debug logs [SIDEBAND_RELAY_DEBUG=1]
  --help                   show this text

Limits (whole numbers unless seconds; a value outside the range exits 2):
${limitHelp}

Cluster timers (with --backplane redis; renew < TTL and heartbeat < dead-after, else exit 2):
${timerHelp}
`;

export type CliCommand = { kind: 'help' } | { kind: 'run'; options: RelayOptions };



const VALUE_FLAGS: ReadonlyMap<string, string> = new Map([
  ['port', 'SIDEBAND_RELAY_PORT'],
  ['host', 'SIDEBAND_RELAY_HOST'],
  ['admin-key', 'SIDEBAND_ADMIN_KEY'],
  ['issuer', 'SIDEBAND_RELAY_ISSUER'],
  ['public-url', 'SIDEBAND_RELAY_PUBLIC_URL'],
  ['jwks-url', 'SIDEBAND_RELAY_JWKS_URL'],
  ['grace', 'SIDEBAND_RELAY_GRACE'],
  ['allowed-origins', 'SIDEBAND_RELAY_ALLOWED_ORIGINS'],
  ['data-dir', 'SIDEBAND_RELAY_DATA_DIR'],
  ['web-app-url', 'SIDEBAND_RELAY_WEB_APP_URL'],
  ['metrics-token', 'SIDEBAND_RELAY_METRICS_TOKEN'],
  ['backplane', 'SIDEBAND_RELAY_BACKPLANE'],
  ['redis', 'SIDEBAND_RELAY_REDIS_URL'],
  ['node-id', 'SIDEBAND_RELAY_NODE_ID'],
  ['control-plane-url', 'SIDEBAND_RELAY_CONTROL_PLANE_URL'],
  ...CLUSTER_TIMER_FLAGS.map((t): [string, string] => [t.flag, t.env]),
  ...LIMIT_FLAGS.map((l): [string, string] => [l.flag, l.env]),
]);
const BOOLEAN_FLAGS: ReadonlySet<string> = new Set(['debug', 'help', 'quick-connect', 'trust-proxy']);
const MAX_ARG_LENGTH = 4096;

/**
 * Parses CLI flags with environment fallbacks (a flag wins over its variable). Strict on
 * purpose: unknown flags, repeated flags, positional arguments and out-of-range values are
 * errors rather than silently ignored, so a typo never starts a relay with a default limit.
 */
export function parseRelayArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): CliCommand {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.length > MAX_ARG_LENGTH) throw new CliUsageError(`argument ${i + 1} is longer than ${MAX_ARG_LENGTH} characters`);
    if (!arg.startsWith('--') || arg === '--') throw new CliUsageError(`unexpected argument ${quote(arg)}`);
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    if (BOOLEAN_FLAGS.has(name)) {
      if (eq !== -1) throw new CliUsageError(`--${name} takes no value`);
      if (flags.has(name)) throw new CliUsageError(`--${name} given twice`);
      flags.add(name);
      continue;
    }
    if (!VALUE_FLAGS.has(name)) throw new CliUsageError(`unknown option ${quote(arg.slice(0, eq === -1 ? undefined : eq))}`);
    if (values.has(name)) throw new CliUsageError(`--${name} given twice`);
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = argv[++i];
      if (value === undefined || value.startsWith('--')) throw new CliUsageError(`--${name} needs a value`);
      if (value.length > MAX_ARG_LENGTH) throw new CliUsageError(`value of --${name} is too long`);
    }
    values.set(name, value);
  }
  if (flags.has('help')) return { kind: 'help' };

  const get = (name: string): string | undefined => {
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
  const limits: Limits = {};
  for (const limit of LIMIT_FLAGS) {
    const text = get(limit.flag);
    if (text === undefined) continue;
    limit.apply(limits, limit.unit === 'seconds' ? seconds(limit.flag, text, limit.max) : integer(limit.flag, text, limit.min, limit.max));
  }
  if (Object.keys(limits).length > 0) options.limits = limits;
  const metricsToken = get('metrics-token');
  if (metricsToken !== undefined) {
    if (metricsToken.length < 16 || /\s/.test(metricsToken)) throw new CliUsageError('--metrics-token must be at least 16 characters without spaces');
    options.metricsToken = metricsToken;
  }
  if (flags.has('trust-proxy') || envFlag(env, 'SIDEBAND_RELAY_TRUST_PROXY')) options.trustProxy = true;
  const origins = get('allowed-origins');
  if (origins !== undefined) options.allowedOrigins = origins.split(',').map((o) => origin(o.trim()));
  const dataDir = get('data-dir');
  if (dataDir !== undefined) options.dataDir = path('data-dir', dataDir);
  const webAppUrl = get('web-app-url');
  if (webAppUrl !== undefined) options.webAppUrl = httpUrl('web-app-url', webAppUrl);
  if (flags.has('quick-connect') || envFlag(env, 'SIDEBAND_RELAY_QUICK_CONNECT')) options.quickConnect = true;
  options.debug = flags.has('debug') || envFlag(env, 'SIDEBAND_RELAY_DEBUG');
  const controlPlaneUrl = get('control-plane-url');
  if (controlPlaneUrl !== undefined) options.controlPlaneUrl = httpUrl('control-plane-url', controlPlaneUrl);
  parseCluster(get, options);
  return { kind: 'run', options };
}

/** --backplane, --redis, --node-id and the timers, checked together (a typo never starts a half cluster). */
function parseCluster(get: (name: string) => string | undefined, options: RelayOptions): void {
  const backplane = get('backplane') ?? 'memory';
  if (backplane !== 'memory' && backplane !== 'redis') throw new CliUsageError(`--backplane must be memory or redis, got ${quote(backplane)}`);
  const redis = get('redis');
  const nodeId = get('node-id');
  const timers: Partial<ClusterTimers> = {};
  for (const t of CLUSTER_TIMER_FLAGS) {
    const text = get(t.flag);
    if (text !== undefined) timers[t.field] = seconds(t.flag, text, t.max);
  }
  if (backplane === 'memory') {
    const stray = redis !== undefined ? 'redis' : nodeId !== undefined ? 'node-id' : Object.keys(timers).length > 0 ? CLUSTER_TIMER_FLAGS.find((t) => timers[t.field] !== undefined)!.flag : undefined;
    if (stray !== undefined) throw new CliUsageError(`--${stray} needs --backplane redis`);
    return;
  }
  if (redis === undefined) throw new CliUsageError('--backplane redis needs --redis <url>');
  let url: URL | undefined;
  try {
    url = new URL(redis);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'redis:' && url.protocol !== 'rediss:') || !url.hostname) throw new CliUsageError('--redis must be a redis:// or rediss:// URL');
  if (nodeId !== undefined && !NODE_ID_PATTERN.test(nodeId)) throw new CliUsageError('--node-id must be 1..64 characters of A-Z a-z 0-9 . _ -');
  const merged = { ...DEFAULT_CLUSTER_TIMERS, ...timers };
  if (merged.leaseRenewMs >= merged.leaseTtlMs) throw new CliUsageError('--lease-renew must be shorter than --lease-ttl');
  if (merged.heartbeatMs >= merged.deadAfterMs) throw new CliUsageError('--node-heartbeat must be shorter than --node-dead-after');
  options.cluster = { backplane: 'redis', redisUrl: redis, ...(nodeId !== undefined && { nodeId }), ...(Object.keys(timers).length > 0 && { timers }) };
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
  if (!/^\d{1,10}$/.test(text)) throw new CliUsageError(`--${name} must be a whole number, got ${quote(text)}`);
  const value = Number(text);
  if (value < min || value > max) throw new CliUsageError(`--${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

/** Positive decimal seconds (at most millisecond precision) up to `maxS`, returned in milliseconds. */
function seconds(name: string, text: string, maxS = 86_400): number {
  if (!/^\d{1,6}(\.\d{1,3})?$/.test(text)) throw new CliUsageError(`--${name} must be a number of seconds, got ${quote(text)}`);
  const ms = Math.round(Number(text) * 1000);
  if (ms <= 0 || ms > maxS * 1000) throw new CliUsageError(`--${name} must be more than 0 and at most ${maxS} seconds`);
  return ms;
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
