import { ControlPlaneError } from './errors.js';
import { controlPlaneBaseUrl } from './relay-url.js';

/** What a control-plane call puts on the wire. */
export interface ControlPlaneWireRequest {
  method: string;
  headers: Record<string, string>;
  body?: string;
  signal: AbortSignal;
}

/** The whole answer: status and body text. */
export interface ControlPlaneWireResponse {
  status: number;
  statusText: string;
  text: string;
}

/**
 * Sends one request and reads the whole answer; throws only when no answer came (network,
 * abort). The default goes through `fetch`; Node passes node/keep-alive-transport.ts, which skips
 * the WHATWG Request/Response objects on every new session's token (issue 9).
 */
export type ControlPlaneTransport = (url: URL, request: ControlPlaneWireRequest) => Promise<ControlPlaneWireResponse>;

/** Transport options shared by every control-plane call (daemon registration, tokens, pairing). */
export interface ControlPlaneCallOptions {
  /** Injected for tests; the global `fetch` by default. Ignored when `transport` is given. */
  fetch?: typeof fetch;
  /** Sends the request instead of `fetch` (Node: node/keep-alive-transport.ts). */
  transport?: ControlPlaneTransport;
  /** Per-request timeout (default `CONTROL_PLANE_DEFAULTS.timeoutMs`, 10 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ControlPlaneRequest {
  method: 'GET' | 'POST' | 'DELETE';
  /** Absolute path, e.g. `/v1/devices/challenge`. */
  path: string;
  bearer?: string;
  body?: unknown;
}

export const CONTROL_PLANE_DEFAULTS = { timeoutMs: 10_000 } as const;

/**
 * One JSON call to the control plane at `relay` (its base URL). Every failure is a
 * `ControlPlaneError` whose `code` is the server's stable `error.code` when it sent one, else
 * `timeout`, `aborted`, `network_error`, `bad_response` or `http_<status>`; a `relay` that is
 * not an http(s) URL is a `ConfigError`.
 *
 *   const json = await controlPlaneRequest('https://relay.example', { method: 'POST', path: '/v1/devices/challenge', body: { deviceId } });
 */
export async function controlPlaneRequest(relay: string, request: ControlPlaneRequest, options: ControlPlaneCallOptions = {}): Promise<Record<string, unknown>> {
  const url = new URL(request.path.replace(/^\//, ''), controlPlaneBaseUrl(relay));
  const timeoutMs = options.timeoutMs ?? CONTROL_PLANE_DEFAULTS.timeoutMs;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (request.bearer !== undefined) headers.authorization = `Bearer ${request.bearer}`;
  if (request.body !== undefined) headers['content-type'] = 'application/json';
  let response: ControlPlaneWireResponse;
  try {
    const transport = options.transport ?? fetchTransport(options.fetch ?? fetch);
    response = await transport(url, { method: request.method, headers, ...(request.body !== undefined ? { body: JSON.stringify(request.body) } : {}), signal });
  } catch (error) {
    if (options.signal?.aborted) throw new ControlPlaneError('aborted', `${request.path} aborted`, 0);
    if (timeout.aborted) throw new ControlPlaneError('timeout', `${request.path} timed out after ${timeoutMs} ms`, 0);
    throw new ControlPlaneError('network_error', `${request.path} failed: ${(error as Error).message}`, 0);
  }
  let json: unknown;
  try {
    json = JSON.parse(response.text);
  } catch {
    json = undefined;
  }
  if (response.status < 200 || response.status > 299) {
    const error = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    const code = typeof error?.code === 'string' ? error.code : `http_${response.status}`;
    const message = typeof error?.message === 'string' ? error.message : response.statusText;
    throw new ControlPlaneError(code, `${request.path}: HTTP ${response.status} ${code}: ${message}`, response.status);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ControlPlaneError('bad_response', `${request.path}: response is not a JSON object`, response.status);
  }
  return json as Record<string, unknown>;
}

/** {@link ControlPlaneTransport} over a `fetch`; a body that cannot be read counts as empty. */
function fetchTransport(fetchFn: typeof fetch): ControlPlaneTransport {
  return async (url, request) => {
    const response = await fetchFn(url, request);
    let text = '';
    try {
      text = await response.text();
    } catch {
      text = '';
    }
    return { status: response.status, statusText: response.statusText, text };
  };
}

/** A non-empty string field of a response, or `bad_response`. */
export function stringField(json: Record<string, unknown>, key: string): string {
  const value = json[key];
  if (typeof value !== 'string' || value === '') throw new ControlPlaneError('bad_response', `response lacks string field ${key}`, 200);
  return value;
}

/** A numeric field of a response, or `bad_response`. */
export function numberField(json: Record<string, unknown>, key: string): number {
  const value = json[key];
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new ControlPlaneError('bad_response', `response lacks number field ${key}`, 200);
  return value;
}
