import type { HttpErrorCode } from '../http-error.js';
import type { RelayConnection } from '../relay-connection.js';
import type { RouterClusterHooks, SessionRouter } from '../session-router.js';
import type { VerifiedToken } from '../token-verifier.js';

/**
 * What an upgrade learned from the backplane before the WebSocket exists: a refusal (HTTP
 * status), or state to hand to `accepted` (the owner of a client's daemon, a daemon's lease).
 * Opaque to the gate and the server.
 */
export interface Admission {
  readonly refusal?: HttpErrorCode;
}

/**
 * How relay nodes share daemons and sessions (scale-out.md §1). `memory`: one process, the
 * router alone, nothing below does any work. `redis`: N processes coordinated through Redis
 * (redis-backplane.ts).
 */
export interface Backplane {
  readonly kind: 'memory' | 'redis';
  /** The router's cluster hooks; undefined on a single node so the router runs exactly as before. */
  readonly routerHooks: RouterClusterHooks | undefined;
  /** Connects (redis) and starts timers; the router exists from here on. */
  start(router: SessionRouter): Promise<void>;
  /**
   * Cluster-wide checks before an upgrade: a client's sid reserved (409), its daemon's session
   * count (429), its daemon's owner looked up; a daemon's lease taken (takeover bumps the epoch).
   */
  admit(token: VerifiedToken): Promise<Admission>;
  /** The upgrade did not happen after `admit` succeeded: give back what it took. */
  abandon(token: VerifiedToken, admission: Admission): void;
  /** Right before the router sees the connection. */
  accepting(conn: RelayConnection, admission: Admission): void;
  /** Right after the router attached the connection. */
  accepted(conn: RelayConnection, admission: Admission): void;
  /** A connection closed (after the router heard of it). */
  connectionClosed(conn: RelayConnection): void;
  /** Whether the daemon holds a socket on any node (control plane `online`). */
  isOnline(did: string): boolean | Promise<boolean>;
  /** Tells every node that `sub` was revoked (the node itself included). */
  revoke(sub: string, forMs: number): void;
  /** False while Redis is unreachable or the subscriber is deaf (`/healthz` answers 503). */
  healthy(): boolean;
  close(): Promise<void>;
}
