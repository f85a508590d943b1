import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Admission, Backplane } from './cluster/backplane.js';
import type { ControlPlane } from './control-plane/control-plane.js';
import { HttpError } from './http-error.js';
import { bearerToken } from './json-body.js';
import { redactUrl, type RelayLogger } from './logger.js';
import type { RelayMetrics } from './metrics.js';
import type { ResolvedRelayOptions } from './options.js';
import type { Role } from './relay-connection.js';
import type { SessionRouter } from './session-router.js';
import { TokenRejectedError, type TokenVerifier, type VerifiedToken } from './token-verifier.js';

export const CONNECT_PATH = '/v1/connect';

export interface UpgradeGateDeps {
  options: ResolvedRelayOptions;
  verifier: TokenVerifier;
  controlPlane: ControlPlane;
  router: SessionRouter;
  /** Cluster-wide checks (sid, session limit, owner lease); the memory backplane admits all. */
  backplane: Backplane;
  /**
   * The control-plane writer is another node (`--control-plane-url`): this node's store knows
   * no daemons or devices, so a valid token stands for a registered daemon and revocations come
   * from the backplane.
   */
  remoteControlPlane: boolean;
  wss: WebSocketServer;
  metrics: RelayMetrics;
  logger: RelayLogger;
  /** Open connections right now (for the connection limit). */
  openConnections: () => number;
  /** Wraps an accepted socket and hands it to the router. */
  accept: (ws: WebSocket, role: Role, token: VerifiedToken, daemonRegistered: boolean, admission: Admission) => void;
}

/**
 * Authentication before the WebSocket upgrade (sbrp.md §5): a refused request gets a plain HTTP
 * answer and its socket is destroyed, so no unauthenticated peer ever holds a WebSocket.
 *
 *   wrong path → 404 · bad Origin → 403 · over maxConnections → 429 · missing/bad token → 401
 *   daemon token for an unregistered daemon (or sub ≠ did) → 403
 *   client token of a revoked device (or of a device paired with another daemon) → 403
 *   client sid in use → 409 · over maxSessionsPerDaemon → 429
 *
 * A client whose daemon is unknown or offline is upgraded and then told so by a Control frame
 * (sbrp.md §3 daemon_not_found / daemon_offline), as the spec places those after the upgrade.
 */
export class UpgradeGate {
  private readonly deps: UpgradeGateDeps;
  private readonly pending = new Set<Duplex>();
  private closed = false;

  constructor(deps: UpgradeGateDeps) {
    this.deps = deps;
  }

  readonly handle = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', ignoreSocketError);
    this.run(req, socket, head).catch((error: unknown) => {
      this.deps.logger.error('upgrade failed', { url: redactUrl(req.url ?? ''), error: String(error) });
      this.refuse(req, socket, new HttpError('internal_error', 'internal error'));
    });
  };

  /** Destroys sockets still being authenticated. Idempotent. */
  close(): void {
    this.closed = true;
    for (const socket of this.pending) socket.destroy();
    this.pending.clear();
  }

  private async run(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const { options, metrics } = this.deps;
    const url = new URL(`http://relay.invalid${req.url ?? '/'}`);
    if (url.pathname !== CONNECT_PATH) return this.refuse(req, socket, new HttpError('not_found', 'no such endpoint'));
    const origin = req.headers.origin;
    if (options.allowedOrigins && origin !== undefined && !options.allowedOrigins.has(origin)) {
      return this.refuse(req, socket, new HttpError('forbidden', 'origin not allowed'));
    }
    // Upgrades still being authenticated count too, so slow token checks cannot pile up unbounded.
    if (this.deps.openConnections() + this.pending.size >= options.limits.maxConnections) {
      return this.refuse(req, socket, new HttpError('too_many_connections', 'connection limit reached'));
    }
    this.pending.add(socket);
    let token: VerifiedToken;
    let registered: boolean;
    try {
      const presented = bearerToken(req) ?? url.searchParams.get('token') ?? undefined;
      try {
        token = await this.deps.verifier.verify(presented);
      } catch (error) {
        if (!(error instanceof TokenRejectedError)) throw error;
        metrics.tokenRejected(error.reason);
        const message = options.debug ? `token rejected: ${error.reason}` : 'token rejected';
        return this.refuse(req, socket, new HttpError(error.code, message), error.reason);
      }
      if (this.deps.remoteControlPlane) registered = true;
      else {
        registered = await this.deps.controlPlane.hasDaemon(token.did);
        // A device token stays usable for its minute unless the device is revoked meanwhile.
        if (token.role === 'client' && !(await this.deps.controlPlane.pairing.principalAllowed(token.sub, token.did))) {
          return this.refuse(req, socket, new HttpError('forbidden', 'device revoked'));
        }
      }
    } finally {
      this.pending.delete(socket);
    }
    if (this.closed || socket.destroyed) return;
    if (token.role === 'daemon' && (!registered || token.sub !== token.did)) {
      return this.refuse(req, socket, new HttpError('forbidden', 'daemon not registered'));
    }
    // Cluster-wide checks and the daemon's lease, still before the upgrade (sbrp.md §5: 409/429).
    this.pending.add(socket);
    let admission: Admission;
    try {
      admission = await this.deps.backplane.admit(token);
    } finally {
      this.pending.delete(socket);
    }
    if (admission.refusal) return this.refuse(req, socket, new HttpError(admission.refusal, REFUSALS[admission.refusal] ?? admission.refusal));
    if (this.closed || socket.destroyed) {
      this.deps.backplane.abandon(token, admission);
      return;
    }
    // From here to the router everything runs synchronously (ws completes an upgrade without
    // awaiting when there is no verifyClient and no compression), so these checks cannot race.
    if (this.deps.openConnections() >= options.limits.maxConnections) {
      this.deps.backplane.abandon(token, admission);
      return this.refuse(req, socket, new HttpError('too_many_connections', 'connection limit reached'));
    }
    if (token.role === 'client') {
      const refusal = this.deps.router.admitClient(token.did, token.sid!, token.sub);
      if (refusal) {
        this.deps.backplane.abandon(token, admission);
        return this.refuse(req, socket, new HttpError(refusal, REFUSALS[refusal] ?? refusal));
      }
    }
    socket.off('error', ignoreSocketError);
    this.deps.wss.handleUpgrade(req, socket, head, (ws) => {
      this.deps.accept(ws, token.role, token, registered, admission);
    });
  }

  private refuse(req: IncomingMessage, socket: Duplex, error: HttpError, reason?: string): void {
    this.deps.metrics.upgradeRejected(error.status);
    // Status, code and (for tokens) the closed-list reason; the URL, redacted, only when debugging.
    const fields = { status: error.status, code: error.code, ...(reason !== undefined && { reason }) };
    if (this.deps.options.debug) this.deps.logger.debug('upgrade refused', { ...fields, url: redactUrl(req.url ?? '') });
    else this.deps.logger.info('upgrade refused', fields);
    if (socket.destroyed) return;
    const body = error.body();
    socket.once('finish', () => socket.destroy());
    socket.end(
      `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\n` +
        'Connection: close\r\n' +
        'Content-Type: application/json; charset=utf-8\r\n' +
        'Cache-Control: no-store\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
}

const REFUSALS: Partial<Record<string, string>> = {
  sid_in_use: 'sid already used', too_many_sessions: 'session limit reached', forbidden: 'device revoked',
  backplane_unavailable: 'cluster backplane unavailable',
};

function ignoreSocketError(): void {
  // A peer that resets during authentication is not an error of the relay.
}
