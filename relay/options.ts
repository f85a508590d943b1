import { HEADER_LENGTH, MAX_PAYLOAD } from '../protocol/codes.js';
import { resolveClusterOptions, type ClusterOptions, type ResolvedClusterOptions } from './cluster/cluster-options.js';
import type { ControlPlaneStore } from './control-plane/store.js';
import type { RelayLogger } from './logger.js';

/** A token bucket: `perSecond` refill rate, `burst` capacity (sbrp.md §3 rate limiting). */
export interface RateLimit {
  perSecond: number;
  burst: number;
}

/** A token bucket for HTTP requests from one client address: `perMinute` refill, `burst` capacity. */
export interface PerIpRate {
  perMinute: number;
  burst: number;
}

/** Every bound of the relay in one place (style.md 7, 8). All finite. */
export interface RelayLimits {
  /** Open WebSockets plus upgrades being authenticated; over it → HTTP 429 (sbrp.md §5). */
  maxConnections: number;
  /** Live client sessions of one daemon; over it → HTTP 429 (sbrp.md §5). */
  maxSessionsPerDaemon: number;
  /** Message rate of one client connection. */
  clientRate: RateLimit;
  /** Message rate of one daemon connection (it carries many sessions). */
  daemonRate: RateLimit;
  /** At most one `rate_limited` per connection per this many ms (sbrp.md §3: once per window). */
  rateNoticeIntervalMs: number;
  /** A destination whose WebSocket send buffer is over this gets `backpressure` (sbrp.md §4). */
  maxBufferedBytes: number;
  /**
   * Bytes of client frames held for one paused/pending session. The relay stops reading the
   * client at the first held frame, so only the rest of one TCP read (≤ 64 KiB) plus one
   * partly received frame can follow; the default leaves room for that with margin.
   */
  maxHeldBytes: number;
  /** Close a connection that sent nothing for this long (sbrp.md §4: 90 s). */
  idleTimeoutMs: number;
  /** After a close handshake starts, destroy the socket if the peer has not finished it. */
  closeTimeoutMs: number;
  /** Longest accepted token, in characters. */
  maxTokenLength: number;
  /** Largest JSON body of the control-plane HTTP API. */
  maxBodyBytes: number;
  /**
   * Client `sid`s remembered after their connection was accepted, so a token is single-use
   * (sbrp.md §5: a new `sid` for every connection attempt). Oldest forgotten first.
   */
  maxRememberedSids: number;
  /**
   * ws `maxPayload`: header + 2 × MAX_PAYLOAD, so a frame up to twice the limit still gets a
   * `payload_too_large` Control; anything larger is cut by ws with close code 1009.
   */
  maxMessageBytes: number;
  /** Quick Connect codes one daemon may create per minute; over it → HTTP 429 (sbrp.md §5: 10). */
  quickConnectsPerMinute: number;
  /** Unrevoked devices per daemon; a redeem past it → HTTP 409 `too_many_devices`. */
  maxDevicesPerDaemon: number;
  /** Outstanding device challenges per device; past it the oldest is dropped. */
  maxChallengesPerDevice: number;
  /**
   * `POST /v1/quick-connect/redeem` per client address (IPv6 grouped by /64); over it → 429
   * `rate_limited` with `Retry-After`. A person pairing types a code a few times at most.
   */
  redeemPerIp: PerIpRate;
  /**
   * `POST /v1/devices/challenge` and `POST /v1/tokens/device` together, per client address. A
   * device connection costs two requests, so the default lets one address (a household or
   * office NAT) open 60 device connections a minute, 15 at once.
   */
  deviceAuthPerIp: PerIpRate;
  /** Client addresses tracked by each per-IP limiter; past it the least recently seen is forgotten. */
  maxTrackedIps: number;
  /** Info, warn and error log lines per `logIntervalMs`; the rest are counted and summarized in one line. */
  maxLogLines: number;
  /** Window of `maxLogLines`. */
  logIntervalMs: number;
  /**
   * Cluster: bytes one session may have in flight over the Redis hop per direction before the
   * receiving node returns credit (scale-out.md §6); keeps a stalled node's pubsub buffer bounded.
   */
  crossNodeWindowBytes: number;
  /** Cluster: a session out of credit this long ends with `backpressure`, as a slow local socket does. */
  crossNodeStallTimeoutMs: number;
}

export interface RelayOptions {
  /** TCP port; 0 picks a free one. Default 8787. */
  port?: number;
  /** Bind address. Default 127.0.0.1. */
  host?: string;
  /** Admin bearer key of the control-plane API. Generated (and exposed on the server) when absent. */
  adminKey?: string;
  /** Public base URL of this relay (used as default `iss`). */
  publicUrl?: string;
  /** JWT `iss` the control plane writes and the relay requires. Default: publicUrl or "sideband-control-plane". */
  issuer?: string;
  /** Verify tokens against this remote JWKS instead of the in-process control plane's keys. */
  jwksUrl?: string;
  /**
   * Allowed browser `Origin`s, for the WebSocket upgrade and the control-plane API alike: when
   * set, a request with another Origin gets 403, a request without one (Node) passes, and listed
   * origins get CORS headers on the API (cors.ts). Unset: any Origin may upgrade, and the API
   * sends no CORS headers (no cross-origin page can read it).
   */
  allowedOrigins?: readonly string[];
  /** Grace period for a dropped daemon to come back, and for a pending session to be signalled (sbrp.md §4). */
  graceMs?: number;
  limits?: Partial<RelayLimits>;
  /** Put diagnostic text in Control frames and HTTP errors (sbrp.md §1 Decision: empty otherwise). */
  debug?: boolean;
  logger?: RelayLogger;
  /**
   * Directory of the control plane's SQLite database (`control-plane.sqlite`, created 0700/0600).
   * Without it (and without `store`) state lives in memory and is lost on restart.
   */
  dataDir?: string;
  /** Control-plane storage; overrides `dataDir`. Default: SQLite in `dataDir`, else a fresh in-memory store. */
  store?: ControlPlaneStore;
  /** Enables Quick Connect pairing. Default off: its endpoints answer 403 `quick_connect_disabled`. */
  quickConnect?: boolean;
  /** Base URL of the web app that pairing links open (`<webAppUrl>/#pair=<code>`). Default: publicUrl, else the relay URL. */
  webAppUrl?: string;
  /**
   * When set, `GET /metrics` needs `Authorization: Bearer <metricsToken>` (else 401). Default:
   * open to anyone who reaches the relay (bind it to a private interface, or set this).
   */
  metricsToken?: string;
  /**
   * Take the client address for per-IP limits from the last `X-Forwarded-For` entry (the one
   * the nearest proxy appended) instead of the socket. Only behind a proxy that sets that
   * header: otherwise any client could pick its own address. Default false.
   */
  trustProxy?: boolean;
  /**
   * Several relay processes on one Redis (scale-out.md): `{ backplane: 'redis', redisUrl, nodeId }`.
   * Default: the single-process `memory` backplane.
   */
  cluster?: ClusterOptions;
  /**
   * This node is not the control-plane writer: `/v1/…` API routes and `/.well-known/jwks.json`
   * are forwarded to this base URL, and tokens are verified against its JWKS (unless `jwksUrl`).
   */
  controlPlaneUrl?: string;
  /** Clock in epoch milliseconds (tests). */
  now?: () => number;
}

export const DEFAULT_LIMITS: Readonly<RelayLimits> = Object.freeze({
  maxConnections: 10_000,
  maxSessionsPerDaemon: 4096,
  // Messages, not bytes: the inner protocol sends 16 KiB pieces, so 5000/s still lets one
  // client upload ~80 MB/s, while a flood of tiny frames is capped.
  clientRate: Object.freeze({ perSecond: 5000, burst: 10_000 }),
  daemonRate: Object.freeze({ perSecond: 20_000, burst: 40_000 }),
  rateNoticeIntervalMs: 1000,
  maxBufferedBytes: 8 * 1024 * 1024,
  maxHeldBytes: 256 * 1024,
  idleTimeoutMs: 90_000,
  closeTimeoutMs: 5000,
  maxTokenLength: 4096,
  maxBodyBytes: 16 * 1024,
  maxRememberedSids: 100_000,
  maxMessageBytes: HEADER_LENGTH + 2 * MAX_PAYLOAD,
  quickConnectsPerMinute: 10,
  maxDevicesPerDaemon: 100,
  maxChallengesPerDevice: 8,
  redeemPerIp: Object.freeze({ perMinute: 30, burst: 10 }),
  deviceAuthPerIp: Object.freeze({ perMinute: 120, burst: 30 }),
  maxTrackedIps: 10_000,
  maxLogLines: 100,
  logIntervalMs: 10_000,
  crossNodeWindowBytes: 256 * 1024,
  crossNodeStallTimeoutMs: 10_000,
});

export const DEFAULTS = Object.freeze({
  port: 8787,
  host: '127.0.0.1',
  issuer: 'sideband-control-plane',
  graceMs: 30_000,
  limits: DEFAULT_LIMITS,
});

export interface ResolvedRelayOptions {
  port: number;
  host: string;
  adminKey: string | undefined;
  publicUrl: string | undefined;
  issuer: string;
  jwksUrl: string | undefined;
  allowedOrigins: ReadonlySet<string> | undefined;
  graceMs: number;
  limits: RelayLimits;
  debug: boolean;
  dataDir: string | undefined;
  quickConnect: boolean;
  webAppUrl: string | undefined;
  metricsToken: string | undefined;
  trustProxy: boolean;
  cluster: ResolvedClusterOptions;
  controlPlaneUrl: string | undefined;
  now: () => number;
}

/** Fills defaults and rejects values that would make a limit infinite or negative. */
export function resolveOptions(options: RelayOptions): ResolvedRelayOptions {
  const limits: RelayLimits = { ...DEFAULT_LIMITS, ...options.limits };
  for (const [name, value] of Object.entries(limits)) {
    if (typeof value === 'number') checkPositive(`limits.${name}`, value);
    else {
      // Every field the default has must be present: a partial rate object is a mistake, not "unlimited".
      const fields = Object.keys(DEFAULT_LIMITS[name as keyof RelayLimits] as object);
      for (const field of fields) checkPositive(`limits.${name}.${field}`, (value as unknown as Record<string, number>)[field]!);
    }
  }
  const port = options.port ?? DEFAULTS.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`invalid port ${port}`);
  if (options.adminKey !== undefined && (typeof options.adminKey !== 'string' || options.adminKey.length < 16)) {
    throw new RangeError('adminKey must be a string of at least 16 characters');
  }
  if (options.metricsToken !== undefined && (typeof options.metricsToken !== 'string' || options.metricsToken.length < 16)) {
    throw new RangeError('metricsToken must be a string of at least 16 characters');
  }
  const graceMs = options.graceMs ?? DEFAULTS.graceMs;
  checkPositive('graceMs', graceMs);
  return {
    port,
    host: options.host ?? DEFAULTS.host,
    adminKey: options.adminKey,
    publicUrl: options.publicUrl,
    issuer: options.issuer ?? options.publicUrl ?? DEFAULTS.issuer,
    jwksUrl: options.jwksUrl ?? (options.controlPlaneUrl ? new URL('/.well-known/jwks.json', options.controlPlaneUrl).toString() : undefined),
    allowedOrigins: options.allowedOrigins ? new Set(options.allowedOrigins) : undefined,
    graceMs,
    limits,
    debug: options.debug ?? false,
    dataDir: options.dataDir,
    quickConnect: options.quickConnect ?? false,
    webAppUrl: options.webAppUrl,
    metricsToken: options.metricsToken,
    trustProxy: options.trustProxy ?? false,
    cluster: resolveClusterOptions(options.cluster),
    controlPlaneUrl: options.controlPlaneUrl,
    now: options.now ?? Date.now,
  };
}

function checkPositive(name: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a finite number > 0, got ${value}`);
}
