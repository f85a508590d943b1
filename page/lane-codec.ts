import type { LaneRequest, LaneResponse } from '../sw/messages.js';
import { SidebandError } from './sideband-error.js';

/** What `sideband.call()` accepts: the part of `RequestInit` that survives a MessagePort. */
export interface CallInit {
  method?: string;
  headers?: HeadersInit;
  body?: BodyInit | null;
}

/** A `call` lane request without its id, and what to transfer with it. */
export interface EncodedCall {
  message: Omit<Extract<LaneRequest, { type: 'call' }>, 'id'>;
  transfer: Transferable[];
}

/** Statuses whose response has no body (Fetch standard, "null body status"). */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/** Methods `fetch` upper-cases (Fetch standard, "normalize a method"); others keep their case. */
const NORMALIZED_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT']);

/**
 * Turns `call()` arguments into a lane message. The body is read whole into one ArrayBuffer
 * (transferred, not copied): `call` is for small latency-critical requests; streams go through
 * `fetch('/sideband/...')`. Like `fetch`, a string, form or blob body brings its Content-Type.
 *
 * @example
 *   const { message, transfer } = await encodeCall('/api/echo', { method: 'POST', body: 'hi' });
 *   // message.headers: [['content-type', 'text/plain;charset=UTF-8']], message.body: 2 bytes
 */
export async function encodeCall(path: string, init: CallInit = {}): Promise<EncodedCall> {
  assertDaemonPath(path);
  const upper = (init.method ?? 'GET').toUpperCase();
  const method = NORMALIZED_METHODS.has(upper) ? upper : (init.method as string);
  if (init.body === undefined || init.body === null) {
    // The common call: no body, often no headers; no Headers object when there is nothing to normalize.
    return { message: { type: 'call', method, path, headers: init.headers === undefined ? [] : [...new Headers(init.headers)] }, transfer: [] };
  }
  const headers = new Headers(init.headers);
  if (method === 'GET' || method === 'HEAD') throw new TypeError(`a ${method} call cannot have a body (as with fetch)`);
  const wrapped = new Response(init.body);
  const contentType = wrapped.headers.get('content-type');
  if (contentType !== null && !headers.has('content-type')) headers.set('content-type', contentType);
  const body = await wrapped.arrayBuffer();
  return { message: { type: 'call', method, path, headers: [...headers], body }, transfer: [body] };
}

/** The `Response` for a `call-result`; `bad_response` when the worker's answer cannot be one. */
export function decodeCallResult(result: Extract<LaneResponse, { type: 'call-result' }>): Response {
  try {
    return new Response(NULL_BODY_STATUSES.has(result.status) ? null : result.body, { status: result.status, headers: result.headers });
  } catch (error) {
    // e.g. a 1xx status (no page Response can carry one) or a header the browser refuses
    throw new SidebandError('bad_response', `the service worker's answer cannot be a Response: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * A channel message as the lane carries it. Views are copied into a fresh ArrayBuffer, which
 * is then transferred; a caller's ArrayBuffer is cloned by postMessage: the caller keeps
 * theirs either way.
 */
export function encodeChannelData(data: string | ArrayBuffer | ArrayBufferView): { data: string | ArrayBuffer; transfer: Transferable[] } {
  if (typeof data === 'string') return { data, transfer: [] };
  if (ArrayBuffer.isView(data)) {
    const copy = new Uint8Array(data.byteLength);
    copy.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return { data: copy.buffer, transfer: [copy.buffer] };
  }
  if (Object.prototype.toString.call(data) === '[object ArrayBuffer]') return { data, transfer: [] };
  throw new TypeError('channel.send() takes a string, an ArrayBuffer or an ArrayBufferView');
}

/** Lane paths are the daemon's own: a full URL here is a caller mistake, caught before it travels. */
export function assertDaemonPath(path: string): void {
  if (typeof path !== 'string' || !path.startsWith('/') || path.startsWith('//')) {
    throw new TypeError(`expected a daemon path starting with '/', like '/api/hello' (no origin, no '/sideband/' prefix), got '${String(path)}'`);
  }
}

/** Header pairs for the lane, as `new Headers()` normalizes them (lower-case names). */
export function headerPairs(init?: HeadersInit): [string, string][] {
  return [...new Headers(init)];
}
