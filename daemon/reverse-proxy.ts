import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { HOP_BY_HOP } from '../web/hop-by-hop.js';
import type { FetchHandler } from './serve-stream.js';

export interface ReverseProxyOptions {
  /**
   * `fetch` to reach the target (tests inject one). Default: a plain node:http(s) request, which
   * sends exactly the headers given: the global fetch (undici) would add `accept`,
   * `accept-language`, `sec-fetch-mode`, `user-agent` and `accept-encoding` the client never sent.
   */
  fetch?: typeof fetch;
  /**
   * `X-Forwarded-Proto` sent upstream. Default: the scheme of the listener's `baseUrl`. The
   * hop from the browser is end-to-end encrypted, so `https` is honest when the page is.
   */
  forwardedProto?: string;
}

/** Content codings Node's fetch (undici) decodes on its own: their header must go too. */
const DECODED_BY_FETCH = new Set(['gzip', 'x-gzip', 'deflate', 'br']);

/**
 * Headers a client could use to lie about where it comes from. This proxy is the edge: it
 * writes them itself and never passes the client's own.
 */
const FORWARDING = new Set(['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip']);

/**
 * A fetch handler that forwards every request to a local HTTP server (`--proxy`), so any web
 * app becomes reachable over the session without code changes. Bodies stream both ways;
 * upstream gets the client's end-to-end headers and nothing else but `X-Forwarded-For`,
 * `-Host`, `-Proto` and `Forwarded` (plus the `Host`, `Connection` and framing headers HTTP/1.1
 * needs); hop-by-hop headers and `host` are dropped in both directions; a response coding the
 * client did not accept is decoded; redirects pass through to the client; cancelling the
 * request aborts the upstream one; an unreachable target gives 502
 * `{"error":{"code":"upstream_unreachable"}}`.
 *
 * Upstream sees the request as coming from 127.0.0.1 (this process), so it gets
 * `X-Forwarded-For: unknown` and `Forwarded: for=unknown` (RFC 7239 §6.3): the real client is
 * behind the relay and has no address to report, and claiming loopback would hand it the
 * trust a local user gets.
 *
 *   await listen({ relay, apiKey, identityPath, fetch: reverseProxy('http://127.0.0.1:3000') });
 */
export function reverseProxy(target: string | URL, options: ReverseProxyOptions = {}): FetchHandler {
  const origin = new URL(target);
  if (origin.protocol !== 'http:' && origin.protocol !== 'https:') throw new TypeError('reverseProxy target must be an http(s) URL');
  const upstreamFetch = options.fetch ?? plainHttpFetch;
  // undici decodes gzip/deflate/br by itself; the plain request passes codings through as sent.
  const fetchDecodes = options.fetch !== undefined;

  return async (request) => {
    const url = new URL(request.url);
    const upstreamUrl = new URL(url.pathname + url.search, origin);
    const proto = options.forwardedProto ?? url.protocol.replace(/:$/, '');
    const headers = forwardHeaders(request.headers);
    headers.set('x-forwarded-for', 'unknown');
    headers.set('x-forwarded-host', url.host);
    headers.set('x-forwarded-proto', proto);
    headers.set('forwarded', `for=unknown;host="${url.host}";proto=${proto}`);

    const hasBody = request.body !== null && request.method !== 'GET' && request.method !== 'HEAD';
    let upstream: Response;
    try {
      upstream = await upstreamFetch(upstreamUrl, {
        method: request.method,
        headers,
        body: hasBody ? request.body : undefined,
        redirect: 'manual',
        signal: request.signal,
        ...(hasBody ? { duplex: 'half' } : {}),
      } as RequestInit);
    } catch (error) {
      if (request.signal.aborted) throw error; // the client is gone; nobody reads an answer
      return Response.json(
        { error: { code: 'upstream_unreachable', message: `The local server at ${origin.origin} did not answer.` } },
        { status: 502, headers: { 'cache-control': 'no-store' } },
      );
    }
    const back = responseHeaders(upstream, request.method, fetchDecodes);
    const body = fetchDecodes ? upstream.body : decodeUnaccepted(upstream, back, request);
    return new Response(body, { status: upstream.status, statusText: upstream.statusText, headers: back });
  };
}

const DECODERS: Readonly<Record<string, () => NodeJS.ReadWriteStream>> = { gzip: createGunzip, 'x-gzip': createGunzip, deflate: createInflate, br: createBrotliDecompress };

/**
 * A local server that compresses although the client did not ask (no `Accept-Encoding` naming
 * the coding) would hand a browser bytes it cannot read: decode those here, as fetch used to,
 * and drop the headers that would lie. Codings the client accepted pass through untouched.
 */
function decodeUnaccepted(upstream: Response, headers: Headers, request: Request): ReadableStream<Uint8Array> | null {
  const codings = (headers.get('content-encoding') ?? '').split(',').map((c) => c.trim().toLowerCase()).filter(Boolean);
  if (codings.length === 0 || upstream.body === null || request.method === 'HEAD') return upstream.body;
  const accepted = (request.headers.get('accept-encoding') ?? '').split(',').map((c) => c.split(';')[0]!.trim().toLowerCase());
  if (codings.every((c) => accepted.includes(c) || accepted.includes('*'))) return upstream.body;
  if (!codings.every((c) => Object.hasOwn(DECODERS, c))) return upstream.body;
  headers.delete('content-encoding');
  headers.delete('content-length');
  let stream: NodeJS.ReadableStream = Readable.fromWeb(upstream.body as import('node:stream/web').ReadableStream<Uint8Array>);
  // Codings are listed in the order applied (RFC 9110 §8.4): undo them last first.
  for (const coding of [...codings].reverse()) stream = stream.pipe(DECODERS[coding]!());
  return Readable.toWeb(stream as Readable) as ReadableStream<Uint8Array>;
}

/**
 * A minimal fetch over node:http(s) for the proxy: the method, the headers exactly as given
 * (Node adds only `Host`, `Connection` and body framing), the body streamed, no redirects
 * followed, no decoding; `signal` aborts both directions.
 */
function plainHttpFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
  const url = new URL(input instanceof Request ? input.url : input);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const headers: Record<string, string> = {};
  for (const [name, value] of new Headers(init.headers)) headers[name] = value;
  return new Promise<Response>((resolve, reject) => {
    const upstream = send(url, { method: init.method ?? 'GET', headers, signal: init.signal ?? undefined }, (res: IncomingMessage) => {
      const status = res.statusCode ?? 502;
      const out = new Headers();
      for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) out.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
      const nullBody = status === 204 || status === 205 || status === 304 || init.method === 'HEAD';
      if (nullBody) res.resume();
      resolve(new Response(nullBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, statusText: res.statusMessage, headers: out }));
    });
    upstream.once('error', reject);
    const body = init.body as ReadableStream<Uint8Array> | string | null | undefined;
    if (body === null || body === undefined) upstream.end();
    else if (typeof body === 'string') upstream.end(body);
    else pipeline(Readable.fromWeb(body as import('node:stream/web').ReadableStream<Uint8Array>), upstream).catch((error: unknown) => upstream.destroy(error as Error));
  });
}

/** Request headers to send upstream: end-to-end ones only, without the client's forwarding claims. */
function forwardHeaders(incoming: Headers): Headers {
  const named = connectionTokens(incoming);
  const out = new Headers();
  for (const [name, value] of incoming) {
    if (HOP_BY_HOP.has(name) || named.has(name) || FORWARDING.has(name)) continue;
    out.append(name, value);
  }
  return out;
}

/** Response headers to send back, minus hop-by-hop ones and any coding fetch already undid. */
function responseHeaders(upstream: Response, method: string, fetchDecodes: boolean): Headers {
  const named = connectionTokens(upstream.headers);
  const out = new Headers();
  for (const [name, value] of upstream.headers) {
    if (HOP_BY_HOP.has(name) || named.has(name) || name === 'set-cookie') continue;
    out.append(name, value);
  }
  for (const cookie of upstream.headers.getSetCookie()) out.append('set-cookie', cookie);
  const codings = (upstream.headers.get('content-encoding') ?? '').split(',').map((c) => c.trim().toLowerCase()).filter(Boolean);
  const decoded = fetchDecodes && codings.length > 0 && codings.every((c) => DECODED_BY_FETCH.has(c)) && method !== 'HEAD' && upstream.body !== null;
  if (decoded) {
    // The body arrives decompressed; its length and coding headers would now lie.
    out.delete('content-encoding');
    out.delete('content-length');
  }
  return out;
}

function connectionTokens(headers: Headers): Set<string> {
  return new Set(
    (headers.get('connection') ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean),
  );
}
