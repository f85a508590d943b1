import { ConfigError, ControlPlaneError } from './errors.js';

/** Options of {@link ControlPlaneClient}. */
export interface ControlPlaneClientOptions {
  /** Base URL of the relay host, e.g. `https://relay.example` (paths are appended to it). */
  baseUrl: string;
  /** Injected for tests; the global `fetch` by default. */
  fetch?: typeof fetch;
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
}

export const CONTROL_PLANE_DEFAULTS = { timeoutMs: 10_000 } as const;

export interface RegisteredDaemon {
  daemonId: string;
  apiKey: string;
}

export interface PresenceToken {
  token: string;
  daemonId: string;
  expiresAt: string | number;
}

export interface SessionToken {
  token: string;
  /** base64url SessionID (sbrp.md §5). */
  sid: string;
  sessionId: string;
  daemonId: string;
  expiresAt: string | number;
}

/**
 * Typed client of the control-plane HTTP API (register a daemon, mint presence and session
 * tokens). Every failure is a {@link ControlPlaneError} carrying the server's `code` and the
 * HTTP status.
 *
 *   const cp = new ControlPlaneClient({ baseUrl: 'http://127.0.0.1:8787' });
 *   const { token } = await cp.presenceToken(apiKey, { resume: true });
 */
export class ControlPlaneClient {
  private readonly base: URL;
  private readonly fetchFn: typeof fetch;
  private readonly timeoutMs: number;

  constructor(options: ControlPlaneClientOptions) {
    this.base = parseBaseUrl(options.baseUrl);
    this.fetchFn = options.fetch ?? fetch;
    this.timeoutMs = options.timeoutMs ?? CONTROL_PLANE_DEFAULTS.timeoutMs;
  }

  /** `POST /v1/daemons` with the admin key: registers an identity public key (base64url). */
  async registerDaemon(adminKey: string, body: { identityPublicKey: string; label?: string }, signal?: AbortSignal): Promise<RegisteredDaemon> {
    const json = await this.request('/v1/daemons', adminKey, body, signal);
    return { daemonId: str(json, 'daemonId'), apiKey: str(json, 'apiKey') };
  }

  /**
   * `POST /v1/tokens/presence` with the daemon API key; `resume` asks for `session:resume`. Sent
   * explicitly either way: a fresh process must not get the scope by a server-side default.
   */
  async presenceToken(apiKey: string, options: { resume?: boolean } = {}, signal?: AbortSignal): Promise<PresenceToken> {
    const json = await this.request('/v1/tokens/presence', apiKey, { resume: options.resume === true }, signal);
    return { token: str(json, 'token'), daemonId: str(json, 'daemonId'), expiresAt: expiry(json) };
  }

  /** `POST /v1/tokens/session` with a daemon API key or the admin key: a fresh `sid` each call. */
  async sessionToken(bearer: string, daemonId: string, signal?: AbortSignal): Promise<SessionToken> {
    const json = await this.request('/v1/tokens/session', bearer, { daemonId }, signal);
    return {
      token: str(json, 'token'),
      sid: str(json, 'sid'),
      sessionId: str(json, 'sessionId'),
      daemonId: str(json, 'daemonId'),
      expiresAt: expiry(json),
    };
  }

  private async request(path: string, bearer: string, body: unknown, signal?: AbortSignal): Promise<Record<string, unknown>> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let response: Response;
    try {
      response = await this.fetchFn(new URL(path.slice(1), this.base), {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
        signal: combined,
      });
    } catch (error) {
      if (timeout.aborted) throw new ControlPlaneError('timeout', `${path} timed out after ${this.timeoutMs} ms`, 0);
      if (signal?.aborted) throw new ControlPlaneError('aborted', `${path} aborted`, 0);
      throw new ControlPlaneError('network_error', `${path} failed: ${(error as Error).message}`, 0);
    }
    let json: unknown;
    try {
      json = await response.json();
    } catch {
      json = undefined;
    }
    if (!response.ok) {
      const error = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
      const code = typeof error?.code === 'string' ? error.code : `http_${response.status}`;
      const message = typeof error?.message === 'string' ? error.message : response.statusText;
      throw new ControlPlaneError(code, `${path}: HTTP ${response.status} ${code}: ${message}`, response.status);
    }
    if (typeof json !== 'object' || json === null) throw new ControlPlaneError('bad_response', `${path}: response is not a JSON object`, response.status);
    return json as Record<string, unknown>;
  }
}

/** The base URL with a trailing slash, so that relative paths resolve under it. */
function parseBaseUrl(baseUrl: string): URL {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new ConfigError(`relay URL ${JSON.stringify(baseUrl)} is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`relay URL must be http(s), got ${url.protocol}`);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  url.search = '';
  url.hash = '';
  return url;
}

function str(json: Record<string, unknown>, key: string): string {
  const value = json[key];
  if (typeof value !== 'string' || value === '') throw new ControlPlaneError('bad_response', `response lacks string field ${key}`, 200);
  return value;
}

function expiry(json: Record<string, unknown>): string | number {
  const value = json.expiresAt;
  return typeof value === 'string' || typeof value === 'number' ? value : '';
}
