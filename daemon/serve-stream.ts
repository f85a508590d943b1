import type { MuxStream } from '../protocol/stream/mux-stream.js';
import { headerPairs, toHeaders } from '../web/hop-by-hop.js';
import { pipeBodyToStream, readableFromStream } from '../web/stream-body.js';

/** The daemon's only contract with user code (style.md §2). A Hono app's `fetch` fits as is. */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

export interface ServeOptions {
  /** Origin given to `request.url`; only path and query come from the client. */
  baseUrl?: string;
  /** Time the handler has to produce a response head before the client gets 504. */
  handlerTimeoutMs?: number;
  /** Where handler failures are reported (never sent to the client). */
  onError?: (error: unknown, request: Request) => void;
}

export const SERVE_DEFAULTS = { baseUrl: 'http://localhost', handlerTimeoutMs: 30_000 } as const;

const NULL_BODY_METHODS = new Set(['GET', 'HEAD']);

/**
 * Serves one HTTP stream the client opened: builds a Request with a streaming body and a
 * `signal` that aborts when the client cancels or the session drops, runs the handler, and
 * streams the Response back under flow control. A throwing handler gives 500 without a stack
 * trace; a silent one gives 504 after `handlerTimeoutMs`; a body that fails part way resets
 * the stream so the client's body errors instead of ending short.
 */
export async function serveStream(stream: MuxStream, handler: FetchHandler, options: ServeOptions = {}): Promise<void> {
  const controller = new AbortController();
  stream.onAbort((error) => controller.abort(error));
  const head = stream.head;
  const method = head.method ?? 'GET';
  const hasBody = !NULL_BODY_METHODS.has(method);
  let request: Request;
  try {
    request = new Request(new URL(head.path, options.baseUrl ?? SERVE_DEFAULTS.baseUrl), {
      method,
      headers: toHeaders(head.headers),
      body: hasBody ? readableFromStream(stream) : null,
      signal: controller.signal,
      ...(hasBody ? { duplex: 'half' } : {}),
    } as RequestInit);
  } catch {
    sendError(stream, 400, 'bad_request', 'The request could not be represented as a WHATWG Request.');
    return;
  }

  let response: Response;
  const timeoutMs = options.handlerTimeoutMs ?? SERVE_DEFAULTS.handlerTimeoutMs;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onGone: (() => void) | undefined;
  try {
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    // A client that leaves ends the wait (and its timer) even if the handler ignores its signal.
    const gone = new Promise<'gone'>((resolve) => {
      onGone = () => resolve('gone');
      // An abort that came first (the stream failed before this ran) would never fire again.
      if (controller.signal.aborted) onGone();
      else controller.signal.addEventListener('abort', onGone, { once: true });
    });
    const result = await Promise.race([Promise.resolve().then(() => handler(request)), timeout, gone]);
    if (result === 'gone') return;
    if (result === 'timeout') {
      controller.abort(new Error('handler timeout'));
      sendError(stream, 504, 'handler_timeout', `The handler did not answer within ${timeoutMs} ms.`);
      return;
    }
    if (!(result instanceof Response)) throw new TypeError('handler did not return a Response');
    response = result;
  } catch (error) {
    if (stream.closed) return;
    options.onError?.(error, request);
    sendError(stream, 500, 'handler_error', 'The handler failed.');
    return;
  } finally {
    clearTimeout(timer);
    // Removed, not left for the GC: undici's Request keeps `controller.signal` strongly (in a
    // FinalizationRegistry, until the Request's own controller is collected), so a listener
    // left on it holds this whole call, the Request included, forever: ~8.4 KB per request
    // (hardening issue; test/e2e-daemon-soak.test.ts).
    if (onGone) controller.signal.removeEventListener('abort', onGone);
  }

  if (stream.closed) {
    await response.body?.cancel().catch(() => {});
    return;
  }
  try {
    stream.respond({ status: response.status, headers: headerPairs(response.headers) });
  } catch (error) {
    options.onError?.(error, request);
    sendError(stream, 500, 'handler_error', 'The handler returned a response that cannot be sent.');
    return;
  }
  // A complete response to an upload the handler did not read stops the client sending it.
  if (!response.body || method === 'HEAD') {
    await response.body?.cancel().catch(() => {});
    stream.end({ stopPeer: true });
  } else {
    await pipeBodyToStream(response.body, stream, (error) => {
      options.onError?.(error, request);
      stream.reset('internal', 'response body failed');
    }, { stopPeer: true });
  }
}

function sendError(stream: MuxStream, status: number, code: string, message: string): void {
  if (stream.closed) return;
  try {
    stream.respond({ status, headers: [['content-type', 'application/json']] });
    void stream.write(new TextEncoder().encode(JSON.stringify({ error: { code, message } }))).catch(() => {});
    stream.end({ stopPeer: true });
  } catch {
    stream.reset('internal', message);
  }
}
