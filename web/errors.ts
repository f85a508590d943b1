/**
 * Error classes of the runtime-independent client layers (shared by the Node client, the daemon
 * SDK and the service worker), each with a stable `code` (style.md §5: callers branch on
 * `code`, never on `message`). Protocol errors stay `SbrpError` from protocol/errors.ts.
 */

/**
 * A control-plane call failed. `code` is the server's `error.code` when it sent one, else
 * `timeout`, `network_error`, `bad_response` or `http_<status>`; `status` is 0 without a response.
 */
export class ControlPlaneError extends Error {
  override readonly name = 'ControlPlaneError';
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/**
 * The relay connection failed or ended without an SBRP Control frame saying why.
 *
 * | code | meaning |
 * | --- | --- |
 * | unauthorized | HTTP 401 at the upgrade (bad or expired token) |
 * | forbidden | HTTP 403 at the upgrade |
 * | session_conflict | HTTP 409 at the upgrade: the token's `sid` is already in use |
 * | too_many_connections | HTTP 429 at the upgrade |
 * | upgrade_failed | any other HTTP answer instead of an upgrade |
 * | connection_failed | TCP/TLS/upgrade error or timeout before the socket opened |
 * | connection_lost | the socket closed without a Control frame |
 * | relay_silent | a Ping went unanswered (sbrp.md §4 liveness) |
 * | circuit_open | the daemon dropped the connection after too many protocol errors |
 * | daemon_replaced | the relay closed the daemon's connection (WebSocket 4002): another connection with this identity took over |
 * | not_connected | `send` while no session is up |
 * | closed | the endpoint was closed by its owner |
 */
export type ConnectionErrorCode =
  | 'unauthorized'
  | 'forbidden'
  | 'session_conflict'
  | 'too_many_connections'
  | 'upgrade_failed'
  | 'connection_failed'
  | 'connection_lost'
  | 'relay_silent'
  | 'circuit_open'
  | 'daemon_replaced'
  | 'not_connected'
  | 'closed';

export class ConnectionError extends Error {
  override readonly name = 'ConnectionError';
  constructor(
    readonly code: ConnectionErrorCode,
    message: string,
    /** HTTP status of a refused upgrade. */
    readonly status?: number,
    /** The relay's JSON `error.code` for a refused upgrade, when it sent one. */
    readonly serverCode?: string,
  ) {
    super(message);
  }
}

/** Options that cannot work, detected before any I/O. Never retried. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'invalid_config';
}

/** The `code` of any error, when it has a string one. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
