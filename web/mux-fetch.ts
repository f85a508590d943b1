import type { Mux } from '../protocol/stream/mux.js';
import type { MuxStream } from '../protocol/stream/mux-stream.js';
import { StreamError } from '../protocol/stream/stream-error.js';
import { headerPairs, toHeaders } from './hop-by-hop.js';
import { pipeBodyToStream, readableFromStream } from './stream-body.js';

/** Base for relative URLs: only the path and query cross the session. */
const PLACEHOLDER_ORIGIN = 'http://sideband.invalid';

/** Pieces of a whole body handed to the stream (it splits them further into frames). */
const WHOLE_BODY_PIECE = 256 * 1024;

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

/**
 * WHATWG `fetch` semantics over the inner stream protocol: the request's method, path,
 * query, headers and streamed body go to the daemon; the Response streams back under flow
 * control. Aborting `init.signal` resets the stream (the daemon handler's `request.signal`
 * aborts). Rejects with StreamError when the stream fails before the head arrives.
 *
 * @example
 *   const res = await muxFetch(mux, '/api/files?dir=src');
 *   const files = await res.json();
 */
export async function muxFetch(mux: Mux, input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const request = toRequest(input, init);
  if (request.signal.aborted) throw abortError(request.signal);
  const url = new URL(request.url);
  const bodiless = request.method === 'GET' || request.method === 'HEAD';
  // Ended at once: in version 2 the OPEN carries the end, one frame for the whole request.
  const stream = mux.open({ kind: 'http', method: request.method, path: url.pathname + url.search, headers: headerPairs(request.headers) }, { end: bodiless });
  const onAbort = () => stream.reset('cancel', 'request aborted');
  request.signal.addEventListener('abort', onAbort, { once: true });
  stream.onAbort(() => request.signal.removeEventListener('abort', onAbort));

  if (bodiless) {
    // nothing to send: the open ended our side
  } else if (request.body) {
    void pipeBodyToStream(request.body, stream, () => stream.reset('cancel', 'request body failed'));
  } else {
    // Firefox has no `Request.body` stream: the bytes are only readable whole.
    void writeWholeBody(request, stream);
  }

  let head;
  try {
    head = await stream.response;
  } catch (error) {
    if (request.signal.aborted) throw abortError(request.signal);
    throw error instanceof StreamError ? error : new StreamError('internal', String(error));
  }
  const nullBody = NULL_BODY_STATUS.has(head.status) || request.method === 'HEAD';
  if (nullBody) stream.reset('cancel', 'no body expected');
  return new Response(nullBody ? null : readableFromStream(stream), {
    status: head.status < 200 ? 502 : head.status,
    headers: toHeaders(head.headers),
  });
}

async function writeWholeBody(request: Request, stream: MuxStream): Promise<void> {
  try {
    const bytes = new Uint8Array(await request.arrayBuffer());
    for (let offset = 0; offset < bytes.length && !stream.closed; offset += WHOLE_BODY_PIECE) {
      await stream.write(bytes.subarray(offset, offset + WHOLE_BODY_PIECE));
    }
    if (!stream.closed) stream.end();
  } catch {
    stream.reset('cancel', 'request body failed');
  }
}

function toRequest(input: string | URL | Request, init?: RequestInit): Request {
  if (input instanceof Request) return init ? new Request(input, init) : input;
  const url = typeof input === 'string' && input.startsWith('/') ? PLACEHOLDER_ORIGIN + input : input;
  const withDuplex = init?.body ? ({ ...init, duplex: 'half' } as RequestInit) : init;
  return new Request(url, withDuplex);
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted.', 'AbortError');
}
