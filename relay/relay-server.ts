import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import type { Backplane } from './cluster/backplane.js';
import { createControlPlaneProxy } from './cluster/control-plane-proxy.js';
import { MemoryBackplane } from './cluster/memory-backplane.js';
import { newAdminKey } from './control-plane/api-keys.js';
import { ControlPlane } from './control-plane/control-plane.js';
import { createControlPlaneApi, MethodNotAllowed } from './control-plane/http-api.js';
import { MemoryControlPlaneStore } from './control-plane/memory-store.js';
import { devicePrincipal } from './control-plane/pairing.js';
import { SqliteControlPlaneStore } from './control-plane/sqlite-store.js';
import type { ControlPlaneStore } from './control-plane/store.js';
import { boundedLogger, type BoundedLogger } from './bounded-logger.js';
import { decideCors } from './cors.js';
import { HttpError, sendHttpError, sendJson } from './http-error.js';
import { IpRateLimiter, clientAddressKey } from './ip-rate-limiter.js';
import { bearerToken } from './json-body.js';
import { redactUrl, silentLogger } from './logger.js';
import { RelayMetrics } from './metrics.js';
import { resolveOptions, type RelayOptions, type ResolvedRelayOptions } from './options.js';
import { CloseCode, RelayConnection, type ConnectionContext } from './relay-connection.js';
import { SessionRouter } from './session-router.js';
import { TokenVerifier } from './token-verifier.js';
import { CONNECT_PATH, UpgradeGate } from './upgrade-gate.js';

/** Clock skew allowed on token times (sbrp.md §5). */
const CLOCK_SKEW_S = 30;
/** Longest client token lifetime accepted (sbrp.md §5). */
const MAX_CLIENT_LIFETIME_S = 300;
/** How often expired codes, challenges and retired keys are purged from the store. */
const PURGE_INTERVAL_MS = 60_000;

export interface RelayServer {
  /** HTTP base URL, e.g. `http://127.0.0.1:8787`. */
  readonly url: string;
  /** WebSocket endpoint, e.g. `ws://127.0.0.1:8787/v1/connect`. */
  readonly wsUrl: string;
  readonly port: number;
  /** The admin key of the control-plane API (generated when none was given). */
  readonly adminKey: string;
  /** The in-process control plane: register daemons and issue tokens without HTTP. */
  readonly controlPlane: ControlPlane;
  readonly metrics: RelayMetrics;
  /** Closes every socket, timer and the listener. Idempotent; resolves when the port is free. */
  close(): Promise<void>;
}

/**
 * Starts the relay: one Node HTTP server carrying the control-plane API, health and metrics, and
 * the SBRP WebSocket endpoint `GET /v1/connect` (sbrp.md §4, §5).
 *
 * @example
 * const relay = await startRelay({ port: 0 });
 * const { daemonId, apiKey } = await relay.controlPlane.registerDaemon({ identityPublicKey });
 * const { token } = await relay.controlPlane.issuePresenceToken(daemonId);
 * const ws = new WebSocket(relay.wsUrl, { headers: { authorization: `Bearer ${token}` } });
 * await relay.close();
 */
export async function startRelay(relayOptions: RelayOptions = {}): Promise<RelayServer> {
  const options = resolveOptions(relayOptions);
  const logger = boundedLogger(relayOptions.logger ?? silentLogger, options.limits.maxLogLines, options.limits.logIntervalMs, options.now);
  const store: ControlPlaneStore = relayOptions.store ??
    (options.dataDir !== undefined ? SqliteControlPlaneStore.inDirectory(options.dataDir) : new MemoryControlPlaneStore());
  try {
    return await start(relayOptions, options, logger, store);
  } catch (error) {
    if (!relayOptions.store) await store.close();
    logger.close();
    throw error;
  }
}

async function start(relayOptions: RelayOptions, options: ResolvedRelayOptions, logger: BoundedLogger, store: ControlPlaneStore): Promise<RelayServer> {
  const metrics = new RelayMetrics();
  const onRevoked = (sub: string): void => {
    const closed = router.revokePrincipal(sub);
    logger.info('principal revoked', { sessionsClosed: closed });
  };
  const backplane = await createBackplane(options, metrics, logger, onRevoked);
  const router = new SessionRouter({
    graceMs: options.graceMs,
    limits: options.limits,
    clockSkewS: CLOCK_SKEW_S,
    maxClientLifetimeS: MAX_CLIENT_LIFETIME_S,
    metrics,
    logger,
    now: options.now,
    ...(backplane.routerHooks && { cluster: backplane.routerHooks }),
  });
  try {
    await backplane.start(router);
  } catch (error) {
    await backplane.close();
    throw error;
  }
  try {
    return await listen(relayOptions, options, logger, store, metrics, router, backplane);
  } catch (error) {
    router.close();
    await backplane.close();
    throw error;
  }
}

/** The memory backplane unless a cluster is asked for; ioredis is loaded only then. */
async function createBackplane(options: ResolvedRelayOptions, metrics: RelayMetrics, logger: BoundedLogger, onRevoked: (sub: string) => void): Promise<Backplane> {
  const cluster = options.cluster;
  if (cluster.backplane === 'memory') return new MemoryBackplane(onRevoked);
  const { RedisBackplane } = await import('./cluster/redis-backplane.js');
  return new RedisBackplane({
    redisUrl: cluster.redisUrl!, nodeId: cluster.nodeId, timers: cluster.timers,
    maxSessionsPerDaemon: options.limits.maxSessionsPerDaemon, metrics, logger, onRevoked,
    flow: { windowBytes: options.limits.crossNodeWindowBytes, stallTimeoutMs: options.limits.crossNodeStallTimeoutMs },
    maxQueuedBytes: options.limits.maxBufferedBytes,
    maxPendingUpgrades: options.limits.maxConnections,
  });
}

async function listen(
  relayOptions: RelayOptions, options: ResolvedRelayOptions, logger: BoundedLogger, store: ControlPlaneStore,
  metrics: RelayMetrics, router: SessionRouter, backplane: Backplane,
): Promise<RelayServer> {
  // Known once the server listens (port 0); only read by requests, which come after that.
  let baseUrl = '';
  const controlPlane = await ControlPlane.create({
    store,
    issuer: options.issuer,
    isOnline: (did) => backplane.isOnline(did),
    quickConnect: options.quickConnect,
    pairingLimits: {
      quickConnectsPerMinute: options.limits.quickConnectsPerMinute,
      maxDevicesPerDaemon: options.limits.maxDevicesPerDaemon,
      maxChallengesPerDevice: options.limits.maxChallengesPerDevice,
    },
    urls: () => {
      const relayUrl = options.publicUrl ?? baseUrl;
      return { relayUrl, webAppUrl: options.webAppUrl ?? relayUrl };
    },
    now: options.now,
  });
  // Revocation reaches the data plane through the store's events, and every other node through
  // the backplane (which also closes this node's sessions of that principal).
  const unsubscribe = store.subscribe((event) => {
    if (event.type !== 'device_revoked') return;
    logger.info('device revoked', { deviceId: event.deviceId, daemonId: event.daemonId });
    backplane.revoke(devicePrincipal(event.deviceId), (MAX_CLIENT_LIFETIME_S + 2 * CLOCK_SKEW_S) * 1000);
  });
  const verifier = new TokenVerifier({
    issuer: options.issuer,
    ...(options.jwksUrl ? { jwksUrl: options.jwksUrl } : { keys: controlPlane.keyResolver }),
    maxTokenLength: options.limits.maxTokenLength,
    clockSkewS: CLOCK_SKEW_S,
    maxClientLifetimeS: MAX_CLIENT_LIFETIME_S,
    now: options.now,
  });
  const adminKey = options.adminKey ?? newAdminKey();
  const api = createControlPlaneApi(controlPlane, { adminKey, maxBodyBytes: options.limits.maxBodyBytes });

  const connections = new Set<RelayConnection>();
  // One context for every connection (memory per idle session: no per-connection closures).
  const connectionContext: ConnectionContext = {
    limits: options.limits,
    metrics,
    logger,
    debug: options.debug,
    now: options.now,
    onClosed: (closed) => {
      connections.delete(closed);
      backplane.connectionClosed(closed);
      const { role, token } = closed;
      logger.info(`${role} disconnected`, { connection: closed.id, daemonId: token.did, ...(role === 'client' && { sessionId: token.sid!.toString(10) }) });
    },
  };
  metrics.setGaugeSource({
    connections: () => {
      const counts = { client: 0, daemon: 0 };
      for (const conn of connections) counts[conn.role]++;
      return counts;
    },
    sessions: () => router.sessionCounts(),
  });

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: options.limits.maxMessageBytes,
    // Frames are end-to-end encrypted: compression gains nothing and costs memory per socket.
    perMessageDeflate: false,
    // A text message must reach the validator and get malformed_frame (sbrp.md §1), not a 1007 close.
    skipUTF8Validation: true,
    clientTracking: false,
  });
  const gate = new UpgradeGate({
    options,
    verifier,
    controlPlane,
    router,
    backplane,
    remoteControlPlane: options.controlPlaneUrl !== undefined,
    wss,
    metrics,
    logger,
    openConnections: () => connections.size,
    accept: (ws, role, token, registered, admission) => {
      const conn = new RelayConnection(ws, role, token, connectionContext);
      connections.add(conn);
      metrics.connectionsAccepted++;
      // Ids only, never the token (sbrp.md §4).
      logger.info(`${role} connected`, { connection: conn.id, daemonId: token.did, ...(role === 'client' && { sessionId: token.sid!.toString(10) }) });
      backplane.accepting(conn, admission);
      if (role === 'daemon') router.attachDaemon(conn);
      else router.attachClient(conn, registered);
      backplane.accepted(conn, admission);
    },
  });

  // Per-IP limits of the unauthenticated control-plane routes (hardening issue); challenge and
  // device token share one bucket, as a device connection needs both.
  const redeemLimiter = new IpRateLimiter(options.limits.redeemPerIp, options.limits.maxTrackedIps, options.now);
  const deviceAuthLimiter = new IpRateLimiter(options.limits.deviceAuthPerIp, options.limits.maxTrackedIps, options.now);
  const limiterFor = (path: string): IpRateLimiter | undefined =>
    path === '/v1/quick-connect/redeem' ? redeemLimiter : path === '/v1/devices/challenge' || path === '/v1/tokens/device' ? deviceAuthLimiter : undefined;
  const metricsTokenHash = options.metricsToken === undefined ? undefined : sha256(options.metricsToken);
  // Not the control-plane writer: its API is answered by the writer (one store, single-use codes).
  const forward = options.controlPlaneUrl === undefined ? undefined
    : createControlPlaneProxy({ target: options.controlPlaneUrl, maxBodyBytes: options.limits.maxBodyBytes });

  const handleRequest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0]!;
    try {
      if (path === '/healthz') {
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new MethodNotAllowed('GET');
        // Not green while Redis is unreachable or the inbox subscriber is deaf (scale-out.md §5).
        if (backplane.healthy()) sendJson(res, 200, { ok: true });
        else sendJson(res, 503, { ok: false, error: { code: 'backplane_unavailable', message: 'cluster backplane unavailable' } });
      } else if (path === '/metrics') {
        if (req.method !== 'GET') throw new MethodNotAllowed('GET');
        if (metricsTokenHash !== undefined) {
          // Hashing first makes the comparison constant-time whatever the presented length.
          const presented = bearerToken(req);
          if (presented === undefined || !timingSafeEqual(sha256(presented), metricsTokenHash)) {
            throw new HttpError('unauthorized', 'metrics need Authorization: Bearer <metrics token>', { 'www-authenticate': 'Bearer' });
          }
        }
        const text = metrics.render();
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      } else if (path === CONNECT_PATH) {
        throw new HttpError('upgrade_required', 'this endpoint takes a WebSocket upgrade');
      } else {
        // Set before anything is answered, so errors carry them too (writeHead keeps set headers).
        const cors = decideCors(req.headers.origin, req.method, options.allowedOrigins);
        for (const [name, value] of Object.entries(cors.headers)) res.setHeader(name, value);
        if (!api.handles(path)) throw new HttpError('not_found', 'no such route');
        if (cors.action === 'refuse') throw new HttpError('forbidden', 'origin not allowed');
        if (cors.action === 'preflight') res.writeHead(204).end();
        else if (forward) await forward(req, res);
        else {
          const limiter = limiterFor(path);
          const key = limiter && clientAddressKey(req, options.trustProxy);
          const wait = key === undefined ? 0 : limiter!.take(key);
          if (wait > 0) throw new HttpError('rate_limited', 'too many requests from this address', { 'retry-after': String(wait) });
          await api(req, res, path);
        }
      }
    } catch (error) {
      const httpError = error instanceof HttpError ? error : new HttpError('internal_error', 'internal error');
      if (!(error instanceof HttpError)) logger.error('request failed', { url: redactUrl(req.url ?? ''), error: String(error) });
      else logger.info('request refused', { method: req.method, path: path.slice(0, 200), status: httpError.status, code: httpError.code });
      if (httpError instanceof MethodNotAllowed) res.setHeader('allow', httpError.allow);
      // A body left unread (e.g. too large) must not be drained: answer, then drop the connection.
      if (!req.complete) res.setHeader('connection', 'close');
      sendHttpError(res, httpError);
    }
  };

  // Short header and request timeouts bound what a slow (slowloris) client can hold open; the
  // longest legitimate request is a 16 KiB JSON body.
  const server = createServer({ maxHeaderSize: 16 * 1024, headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => void handleRequest(req, res));
  server.on('upgrade', gate.handle);
  server.on('clientError', (_error, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  // Idle sweep (sbrp.md §4: close a connection silent for 90 s). Sockets the relay itself stopped
  // reading are exempt: their silence is the relay's doing.
  const idleMs = options.limits.idleTimeoutMs;
  let lastPurge = options.now();
  let purging = false;
  const sweep = setInterval(() => {
    const now = options.now();
    for (const conn of connections) {
      if (!conn.readingHeld && now - conn.lastSeen > idleMs) conn.close(CloseCode.idle, 'idle');
    }
    router.prune();
    // Short-lived records also expire when read; the purge only keeps the store small.
    if (!purging && now - lastPurge >= PURGE_INTERVAL_MS) {
      purging = true;
      lastPurge = now;
      controlPlane.purgeExpired().then(
        () => (purging = false),
        (error: unknown) => {
          purging = false;
          logger.error('store purge failed', { error: String(error) });
        },
      );
    }
  }, Math.max(10, Math.min(5000, Math.floor(idleMs / 3))));

  const port = (server.address() as AddressInfo).port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  baseUrl = `http://${host}:${port}`;
  logger.info('relay listening', { host: options.host, port });

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    wsUrl: `ws://${host}:${port}${CONNECT_PATH}`,
    port,
    adminKey,
    controlPlane,
    metrics,
    close() {
      closing ??= (async () => {
        clearInterval(sweep);
        router.close();
        gate.close();
        server.off('upgrade', gate.handle);
        for (const conn of [...connections]) conn.terminate();
        await backplane.close();
        wss.close();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
        unsubscribe();
        controlPlane.close();
        if (!relayOptions.store) await store.close();
        logger.close();
      })();
      return closing;
    },
  };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
