import { HOP_BY_HOP } from '../web/hop-by-hop.js';
import type { FetchHandler } from './serve-stream.js';

export interface ReverseProxyOptions {
  /** `fetch` to reach the target (tests inject one). Default: the global fetch. */
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
 * hop-by-hop headers and `host` are dropped in both directions; redirects pass through to
 * the client; cancelling the request aborts the upstream one; an unreachable target gives
 * 502 `{"error":{"code":"upstream_unreachable"}}`.
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
  const upstreamFetch = options.fetch ?? fetch;

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
    return new Response(upstream.body, { status: upstream.status, statusText: upstream.statusText, headers: responseHeaders(upstream, request.method) });
  };
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
function responseHeaders(upstream: Response, method: string): Headers {
  const named = connectionTokens(upstream.headers);
  const out = new Headers();
  for (const [name, value] of upstream.headers) {
    if (HOP_BY_HOP.has(name) || named.has(name) || name === 'set-cookie') continue;
    out.append(name, value);
  }
  for (const cookie of upstream.headers.getSetCookie()) out.append('set-cookie', cookie);
  const codings = (upstream.headers.get('content-encoding') ?? '').split(',').map((c) => c.trim().toLowerCase()).filter(Boolean);
  const decoded = codings.length > 0 && codings.every((c) => DECODED_BY_FETCH.has(c)) && method !== 'HEAD' && upstream.body !== null;
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
