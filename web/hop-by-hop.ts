import { CONNECTION_HEADERS, stripConnectionHeaders } from '../protocol/stream/connection-headers.js';

/**
 * Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus `host`,
 * which names the relay hop rather than the daemon. They never cross the session in either
 * direction; the reverse proxy and both fetch bridges drop them (docs/protocol.md §3).
 */
export const HOP_BY_HOP: ReadonlySet<string> = CONNECTION_HEADERS;

/** Header pairs to send, minus hop-by-hop ones and any named in `Connection`. Keeps repeated Set-Cookie. */
export function headerPairs(headers: Headers): [string, string][] {
  const pairs: [string, string][] = [];
  for (const [name, value] of headers) {
    if (name === 'set-cookie') continue;
    pairs.push([name, value]);
  }
  for (const cookie of headers.getSetCookie?.() ?? []) pairs.push(['set-cookie', cookie]);
  return stripConnectionHeaders(pairs);
}

/**
 * Builds Headers from received pairs, dropping hop-by-hop ones the peer should not have sent
 * and any header a received `connection` names.
 */
export function toHeaders(pairs: [string, string][]): Headers {
  const headers = new Headers();
  for (const [name, value] of stripConnectionHeaders(pairs)) headers.append(name, value);
  return headers;
}
