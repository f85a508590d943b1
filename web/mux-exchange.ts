import { joinChunks } from '../protocol/bytes.js';
import type { Mux } from '../protocol/stream/mux.js';
import type { MuxStream } from '../protocol/stream/mux-stream.js';
import { stripConnectionHeaders } from '../protocol/stream/connection-headers.js';
import { StreamError } from '../protocol/stream/stream-error.js';

/** A whole request: method, path and query, header pairs, the body in one piece. */
export interface ExchangeRequest {
  method: string;
  /** Path and query, starting with `/`. */
  path: string;
  headers?: [string, string][];
  body?: Uint8Array;
}

export interface ExchangeResponse {
  status: number;
  /** Pairs in the order the daemon sent them, connection headers dropped. */
  headers: [string, string][];
  /** The whole body, in a buffer of its own (it can be transferred). */
  body: Uint8Array<ArrayBuffer>;
}

export interface ExchangeOptions {
  /** Larger answers fail with `response_too_large` (the stream is cancelled, not read on). */
  maxBodyBytes: number;
  signal?: AbortSignal;
}

/** Base for normalising the path as fetch would (dot segments, percent-encoding): only path and query are sent. */
const PLACEHOLDER_ORIGIN = 'http://sideband.invalid';
/** Pieces of the body handed to the stream (it splits them further into frames). */
const BODY_PIECE = 256 * 1024;
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * One request and its whole answer over a stream, with no Request, Response or
 * ReadableStream in between: what the service worker's MessagePort lane needs (issue 9: each
 * of those objects costs the worker more than the frames themselves for a small call). The
 * semantics are `fetch`'s where they meet: a GET or HEAD has no body, a HEAD answer and
 * 101/103/204/205/304 have none, a 1xx head reads as 502, hop-by-hop headers are dropped.
 * Opens its stream synchronously, before the first await (SidebandClient counts on that).
 *
 * @example
 *   const { status, body } = await muxExchange(mux, { method: 'GET', path: '/api/ping' }, { maxBodyBytes: 1 << 20 });
 */
export async function muxExchange(mux: Mux, request: ExchangeRequest, options: ExchangeOptions): Promise<ExchangeResponse> {
  const method = request.method.toUpperCase();
  if (!TOKEN.test(method)) throw new TypeError(`invalid method ${JSON.stringify(request.method)}`);
  if (!request.path.startsWith('/')) throw new TypeError(`path must start with "/", got ${JSON.stringify(request.path)}`);
  const url = new URL(request.path, PLACEHOLDER_ORIGIN);
  const body = request.body && request.body.length > 0 ? request.body : undefined;
  const bodiless = method === 'GET' || method === 'HEAD';
  if (body && bodiless) throw new TypeError(`a ${method} request cannot have a body`);
  options.signal?.throwIfAborted();
  const headers = stripConnectionHeaders((request.headers ?? []).map(([name, value]) => [name.toLowerCase(), value]));
  const stream = mux.open({ kind: 'http', method, path: url.pathname + url.search, headers }, { end: !body });
  const onAbort = () => stream.reset('cancel', 'request aborted');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (body) void writeBody(stream, body);
    const head = await stream.response;
    const headersOut = stripConnectionHeaders(head.headers);
    if (NULL_BODY_STATUS.has(head.status) || method === 'HEAD') {
      stream.reset('cancel', 'no body expected');
      return { status: head.status, headers: headersOut, body: new Uint8Array(0) };
    }
    return { status: head.status < 200 ? 502 : head.status, headers: headersOut, body: await readWhole(stream, options.maxBodyBytes) };
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    throw error instanceof StreamError || (error as { code?: unknown })?.code ? error : new StreamError('internal', String(error));
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}

async function writeBody(stream: MuxStream, body: Uint8Array): Promise<void> {
  try {
    for (let offset = 0; offset < body.length && !stream.closed; offset += BODY_PIECE) await stream.write(body.subarray(offset, offset + BODY_PIECE));
    if (!stream.closed) stream.end();
  } catch {
    // the stream failed: the response side reports why
  }
}

/** The whole body, at most `limit` bytes, copied once into a buffer of its own. */
async function readWhole(stream: MuxStream, limit: number): Promise<Uint8Array<ArrayBuffer>> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const chunk = await stream.read();
    if (!chunk) break;
    size += chunk.length;
    if (size > limit) {
      stream.reset('cancel', 'answer too large');
      throw Object.assign(new Error(`the answer is over ${limit} bytes: use fetch() for large bodies`), { code: 'response_too_large' });
    }
    chunks.push(chunk);
  }
  return joinChunks(chunks);
}
