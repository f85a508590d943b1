import { CONTROL_PLANE_DEFAULTS, controlPlaneRequest, stringField } from '../web/control-plane-request.js';
import { controlPlaneBaseUrl } from '../web/relay-url.js';
import { keepAliveTransport } from './keep-alive-transport.js';

export { CONTROL_PLANE_DEFAULTS } from '../web/control-plane-request.js';

/** Options of {@link ControlPlaneClient}. */
export interface ControlPlaneClientOptions {
  /** Base URL of the relay host, e.g. `https://relay.example` (paths are appended to it). */
  baseUrl: string;
  /**
   * Injected for tests. Without it calls go over {@link keepAliveTransport}: node:http on a
   * shared keep-alive pool, so a new session's token costs one round trip on a warm connection
   * and no WHATWG objects (issue 9).
   */
  fetch?: typeof fetch;
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
}

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
 * tokens) over {@link controlPlaneRequest}. Every failure is a `ControlPlaneError` carrying the
 * server's `code` and the HTTP status; a bad `baseUrl` throws `ConfigError` from the constructor.
 *
 *   const cp = new ControlPlaneClient({ baseUrl: 'http://127.0.0.1:8787' });
 *   const { token } = await cp.presenceToken(apiKey, { resume: true });
 */
export class ControlPlaneClient {
  /** Checked at construction, so a bad URL fails before any call. */
  private readonly baseUrl: string;
  private readonly fetchFn: typeof fetch | undefined;
  private readonly timeoutMs: number;

  constructor(options: ControlPlaneClientOptions) {
    this.baseUrl = controlPlaneBaseUrl(options.baseUrl).href;
    this.fetchFn = options.fetch;
    this.timeoutMs = options.timeoutMs ?? CONTROL_PLANE_DEFAULTS.timeoutMs;
  }

  /** `POST /v1/daemons` with the admin key: registers an identity public key (base64url). */
  async registerDaemon(adminKey: string, body: { identityPublicKey: string; label?: string }, signal?: AbortSignal): Promise<RegisteredDaemon> {
    const json = await this.request('/v1/daemons', adminKey, body, signal);
    return { daemonId: stringField(json, 'daemonId'), apiKey: stringField(json, 'apiKey') };
  }

  /**
   * `POST /v1/tokens/presence` with the daemon API key; `resume` asks for `session:resume`. Sent
   * explicitly either way: a fresh process must not get the scope by a server-side default.
   */
  async presenceToken(apiKey: string, options: { resume?: boolean } = {}, signal?: AbortSignal): Promise<PresenceToken> {
    const json = await this.request('/v1/tokens/presence', apiKey, { resume: options.resume === true }, signal);
    return { token: stringField(json, 'token'), daemonId: stringField(json, 'daemonId'), expiresAt: expiry(json) };
  }

  /** `POST /v1/tokens/session` with a daemon API key or the admin key: a fresh `sid` each call. */
  async sessionToken(bearer: string, daemonId: string, signal?: AbortSignal): Promise<SessionToken> {
    const json = await this.request('/v1/tokens/session', bearer, { daemonId }, signal);
    return {
      token: stringField(json, 'token'),
      sid: stringField(json, 'sid'),
      sessionId: stringField(json, 'sessionId'),
      daemonId: stringField(json, 'daemonId'),
      expiresAt: expiry(json),
    };
  }

  private request(path: string, bearer: string, body: unknown, signal?: AbortSignal): Promise<Record<string, unknown>> {
    return controlPlaneRequest(this.baseUrl, { method: 'POST', path, bearer, body }, { ...(this.fetchFn ? { fetch: this.fetchFn } : { transport: keepAliveTransport }), timeoutMs: this.timeoutMs, signal });
  }
}

function expiry(json: Record<string, unknown>): string | number {
  const value = json.expiresAt;
  return typeof value === 'string' || typeof value === 'number' ? value : '';
}
