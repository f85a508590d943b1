/**
 * CORS for the control-plane HTTP API, so a web app on another origin (a page or service worker
 * at `http://127.0.0.1:5173` calling a relay at `http://127.0.0.1:8787`) can pair and fetch
 * device tokens. Pure: it reads three values and returns headers; the server applies them.
 *
 * The allowlist is the relay's `allowedOrigins`, the same list that gates the WebSocket upgrade.
 * There is no separate `corsOrigins`: the app that opens `/v1/connect` is the app that calls the
 * API first, so one list cannot drift from the other, and an operator has one thing to audit.
 *
 * Rules, in order:
 * - `allowedOrigins` unset: no CORS headers at all, whatever the request. Only same-origin pages
 *   and non-browser callers (Node sends no Origin) can read answers; preflights get 405 as before.
 *   Opening the API to other origins takes an explicit list; the relay never sends `*`.
 * - No `Origin` header: a non-browser caller; handled as usual, without CORS headers.
 * - `Origin` in the list (exact, case-sensitive match, as browsers serialize it; `null`, the origin
 *   of sandboxed frames, `file:` pages and redirects, is never allowed, as every opaque origin
 *   shares it): `Access-Control-Allow-Origin: <that origin>`, `Access-Control-Expose-Headers:
 *   retry-after` (so a page can read a 429's delay), on every answer including errors, so the
 *   page can read the error `code`. `OPTIONS` is a preflight and gets 204 with the methods,
 *   headers and max-age of {@link CORS_PREFLIGHT}. No `Access-Control-Allow-Credentials`: the API
 *   authenticates with `Authorization: Bearer` or not at all, never cookies.
 * - `Origin` not in the list: refused with 403 `forbidden`, preflight or not, as at the upgrade
 *   gate; the answer carries no CORS header, and the relay never echoes the refused value.
 *
 * Whenever the list is set, every answer carries `Vary: Origin`: the same URL answers differently
 * per Origin, and a shared cache (the JWKS is `public, max-age=300`) must not serve one origin's
 * answer to another, including an answer without `Access-Control-Allow-Origin`.
 *
 * @example
 * const cors = decideCors(req.headers.origin, req.method, options.allowedOrigins);
 * for (const [name, value] of Object.entries(cors.headers)) res.setHeader(name, value);
 * if (cors.action === 'refuse') throw new HttpError('forbidden', 'origin not allowed');
 * if (cors.action === 'preflight') return void res.writeHead(204).end();
 */

/** What a preflight from an allowed origin is told; the API's methods and request headers. */
export const CORS_PREFLIGHT = Object.freeze({
  methods: 'GET, POST, DELETE',
  headers: 'content-type, authorization',
  maxAgeSeconds: 600,
});

/** Response headers a page may read beyond the CORS-safelisted ones (the 429 delay). */
export const CORS_EXPOSED_HEADERS = 'retry-after';

export type CorsAction =
  /** Handle the request as usual and send `headers` with whatever the answer is. */
  | 'continue'
  /** An allowed preflight: answer 204 with `headers`. */
  | 'preflight'
  /** Origin not allowed: answer 403 `forbidden` with `headers` (only `Vary`). */
  | 'refuse';

export interface CorsDecision {
  readonly action: CorsAction;
  /** Lower-case header names; empty when the allowlist is unset. */
  readonly headers: Readonly<Record<string, string>>;
}

const NONE: CorsDecision = Object.freeze({ action: 'continue', headers: Object.freeze({}) });

/**
 * Decides the CORS answer of one control-plane request (see the module comment for the rules).
 *
 * @param origin the request's `Origin` header as received (Node joins repeated ones with ", ",
 *   which then matches no entry)
 * @param method the request method
 * @param allowedOrigins the relay's `allowedOrigins`, or undefined when unset
 */
export function decideCors(origin: string | undefined, method: string | undefined, allowedOrigins: ReadonlySet<string> | undefined): CorsDecision {
  if (allowedOrigins === undefined) return NONE;
  const vary = { vary: 'Origin' };
  if (origin === undefined) return { action: 'continue', headers: vary };
  if (origin === 'null' || !allowedOrigins.has(origin)) return { action: 'refuse', headers: vary };
  const allowed = { ...vary, 'access-control-allow-origin': origin, 'access-control-expose-headers': CORS_EXPOSED_HEADERS };
  if (method !== 'OPTIONS') return { action: 'continue', headers: allowed };
  return {
    action: 'preflight',
    headers: {
      ...allowed,
      'access-control-allow-methods': CORS_PREFLIGHT.methods,
      'access-control-allow-headers': CORS_PREFLIGHT.headers,
      'access-control-max-age': String(CORS_PREFLIGHT.maxAgeSeconds),
    },
  };
}
