import { errorCode } from '../web/errors.js';

/**
 * What the worker answers instead of an opaque network error (design.md "Behaviour users rely
 * on"): a JSON body `{"error":{"code","message"}}`, the code also in `Sideband-Error`, and
 * `Retry-After` (seconds) where waiting helps. README "Service worker error responses" lists
 * every code; nothing branches on the message.
 */
export class SidebandHttpError extends Error {
  override readonly name = 'SidebandHttpError';
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    /** Seconds; absent when retrying cannot help without a human (pairing, trust). */
    readonly retryAfterS?: number,
  ) {
    super(message);
  }

  toResponse(): Response {
    const headers = new Headers({ 'content-type': 'application/json', 'cache-control': 'no-store', 'sideband-error': this.code });
    if (this.retryAfterS !== undefined) headers.set('retry-after', String(Math.max(1, Math.ceil(this.retryAfterS))));
    return new Response(JSON.stringify({ error: { code: this.code, message: this.message } }), { status: this.status, headers });
  }
}

/** Default wait suggested for transient failures when the loop has no better number. */
const RETRY_AFTER_S = 5;

/**
 * Maps a failure of the connection (why no session is up) to the response a page gets.
 * `retryInMs` is the loop's next attempt, when it has one.
 */
export function connectionFailure(error: unknown, retryInMs?: number): SidebandHttpError {
  const code = errorCode(error) ?? 'internal';
  const message = error instanceof Error ? error.message : String(error);
  const retry = retryInMs !== undefined ? retryInMs / 1000 : RETRY_AFTER_S;
  switch (code) {
    case 'not_paired':
      return new SidebandHttpError('not_paired', 401, 'this browser is not paired with a daemon: pair it with a Quick Connect code');
    case 'device_revoked':
    case 'device_not_found':
      return new SidebandHttpError(code, 403, 'this browser is no longer paired (the owner revoked it): pair it again');
    case 'identity_key_changed':
      return new SidebandHttpError(code, 502, message);
    case 'daemon_offline':
      return new SidebandHttpError(code, 503, 'the daemon is not connected to the relay', retry);
    case 'daemon_not_found':
      return new SidebandHttpError(code, 502, 'the relay does not know this daemon');
    case 'session_expired':
      return new SidebandHttpError(code, 503, 'the daemon ended the session or did not come back in time; a new session is being set up', retry);
    case 'session_paused':
      return new SidebandHttpError(code, 503, 'the daemon dropped its connection; the session resumes if it returns in time', retry);
    case 'session_timeout':
      return new SidebandHttpError(code, 504, message, retry);
    case 'unauthorized':
    case 'forbidden':
      return new SidebandHttpError('forbidden', 403, `the relay refused this browser (${code})`);
    case 'handshake_failed':
    case 'handshake_timeout':
    case 'decrypt_failed':
    case 'sequence_error':
      return new SidebandHttpError(code, 502, message, retry);
    case 'unsupported_browser':
      return new SidebandHttpError(code, 501, message);
    case 'invalid_config':
      return new SidebandHttpError(code, 500, message);
    default:
      // connection_failed/lost, relay_silent, a control-plane network error or 5xx…
      return new SidebandHttpError('relay_unreachable', 502, `no session to the daemon: ${code}: ${message}`, retry);
  }
}

/** A request that had been sent when its stream failed before the daemon's answer arrived. */
export function requestFailure(error: unknown): SidebandHttpError {
  const code = errorCode(error);
  if (code === 'refused') return new SidebandHttpError('overloaded', 503, 'too many requests in flight on the session', 1);
  const message = error instanceof Error ? error.message : String(error);
  return new SidebandHttpError('request_interrupted', 502, `the request was interrupted before the daemon answered (${code ?? 'error'}): ${message}`, 1);
}
