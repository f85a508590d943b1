import type { ServerResponse } from 'node:http';

/**
 * Stable error codes of the relay's HTTP surface (control-plane API and WebSocket upgrade).
 * Clients branch on `code`, never on `message` (style.md 5).
 */
export const HttpErrorStatus = {
  invalid_json: 400,
  invalid_request: 400,
  unauthorized: 401,
  invalid_signature: 401,
  challenge_not_found: 401,
  forbidden: 403,
  quick_connect_disabled: 403,
  device_revoked: 403,
  not_found: 404,
  daemon_not_found: 404,
  code_not_found: 404,
  device_not_found: 404,
  method_not_allowed: 405,
  sid_in_use: 409,
  daemon_offline: 409,
  too_many_devices: 409,
  key_conflict: 409,
  code_expired: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  upgrade_required: 426,
  too_many_connections: 429,
  too_many_sessions: 429,
  rate_limited: 429,
  internal_error: 500,
  control_plane_unavailable: 502,
  jwks_unavailable: 503,
  backplane_unavailable: 503,
  store_full: 503,
} as const;
export type HttpErrorCode = keyof typeof HttpErrorStatus;

/** An error that becomes `{"error":{"code","message"}}` with `status`. */
export class HttpError extends Error {
  override readonly name: string = 'HttpError';
  readonly code: HttpErrorCode;
  readonly status: number;
  /** Extra response headers (`Retry-After` of a 429). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: HttpErrorCode, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.code = code;
    this.status = HttpErrorStatus[code];
    this.headers = headers;
  }

  /** The JSON body. Messages are written by the relay and never hold a token or secret. */
  body(): string {
    return JSON.stringify({ error: { code: this.code, message: this.message } });
  }
}

/** Writes a JSON response with a body length and no caching of secrets. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export function sendHttpError(res: ServerResponse, error: HttpError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = error.body();
  res.writeHead(error.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...error.headers,
  });
  res.end(text);
}
