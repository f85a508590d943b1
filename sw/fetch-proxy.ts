import type { SidebandClient } from '../web/sideband-client.js';
import type { WorkerConnection } from './connection.js';
import { requestFailure, SidebandHttpError } from './error-response.js';
import type { SidebandStore } from './sideband-store.js';
import { WORKER_DEFAULTS } from './worker-config.js';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Headers of the page's request that are for the web app's own origin, not for the daemon:
 * its cookies never cross the relay (the daemon is another party, whatever the encryption).
 */
const ORIGIN_ONLY_HEADERS = ['cookie'];

export interface ProxyContext {
  connection: WorkerConnection;
  store: () => Promise<SidebandStore>;
  prefix: string;
  bootId: string;
}

/**
 * Answers one intercepted `/sideband/…` request through the session: the prefix is cut, the
 * rest of path and query, method, headers and body go to the daemon; its Response streams
 * back as its head arrives. Failures become JSON error responses (error-response.ts), never
 * a rejected promise (which the page would see as an opaque `TypeError`).
 *
 * Non-idempotent requests carry an `Idempotency-Key` recorded in IndexedDB before they leave:
 * when a worker dies mid-request, Chromium re-dispatches the fetch to a new instance
 * (service-worker.md), which finds the orphaned record and sends the replay with the same key
 * and `Sideband-Redelivery: 1`, so the daemon (listen()) refuses to run it twice.
 */
export async function proxyFetch(request: Request, clientId: string, context: ProxyContext): Promise<Response> {
  const url = new URL(request.url);
  const path = `/${url.pathname.slice(context.prefix.length)}${url.search}`;
  const method = request.method;
  const abort = new AbortController();
  let inflightId: string | undefined;
  try {
    const headers = new Headers(request.headers);
    for (const name of ORIGIN_ONLY_HEADERS) headers.delete(name);
    const body = IDEMPOTENT.has(method) ? null : await requestBody(request);
    if (!IDEMPOTENT.has(method)) inflightId = await stampIdempotency(headers, clientId, method, url.href, context);
    let client: SidebandClient;
    try {
      client = await context.connection.acquire(abort.signal);
    } catch (error) {
      throw error instanceof SidebandHttpError ? error : requestFailure(error);
    }
    const init: RequestInit & { duplex?: 'half' } = { method, headers, signal: abort.signal };
    if (body !== null) {
      init.body = body;
      init.duplex = 'half';
    }
    try {
      return await client.fetch(path, init);
    } catch (error) {
      throw requestFailure(error);
    }
  } catch (error) {
    return (error instanceof SidebandHttpError ? error : requestFailure(error)).toResponse();
  } finally {
    // The head arrived or the request failed: either way a re-dispatch is no longer possible.
    if (inflightId) void context.store().then((store) => store.removeInflight(inflightId!)).catch(() => {});
  }
}

/**
 * The body to send: streamed where the browser gives `request.body` (Chromium), else read
 * whole (Firefox) up to `maxBufferedBodyBytes`, `413 body_too_large` beyond.
 */
async function requestBody(request: Request): Promise<ReadableStream<Uint8Array> | ArrayBuffer | null> {
  if (request.body) return request.body;
  const limit = WORKER_DEFAULTS.maxBufferedBodyBytes;
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const buffer = await request.arrayBuffer();
  if (buffer.byteLength > limit) throw tooLarge(limit);
  return buffer.byteLength === 0 ? null : buffer;
}

function tooLarge(limit: number): SidebandHttpError {
  return new SidebandHttpError('body_too_large', 413, `this browser gives the worker request bodies only whole; at most ${limit} bytes are accepted`);
}

async function stampIdempotency(headers: Headers, clientId: string, method: string, url: string, context: ProxyContext): Promise<string | undefined> {
  let store: SidebandStore;
  try {
    store = await context.store();
  } catch {
    return undefined; // no IndexedDB (private mode in some browsers): requests still work, without replay detection
  }
  // A key the page set itself comes back unchanged in a re-dispatch: nothing to look up.
  const own = headers.get('idempotency-key');
  const orphan = own ? undefined : await store.takeOrphan(context.bootId, clientId, method, url).catch(() => undefined);
  const id = own ?? orphan?.id ?? crypto.randomUUID();
  headers.set('idempotency-key', id);
  if (orphan) headers.set('sideband-redelivery', '1');
  await store.addInflight({ id, bootId: context.bootId, clientId, method, url, at: Date.now() }).catch(() => {});
  return id;
}
