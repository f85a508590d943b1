/**
 * Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus `host`,
 * which names the relay hop rather than the daemon. They never cross the session in either
 * direction; the reverse proxy and both fetch bridges drop them.
 */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

/** Header pairs to send, minus hop-by-hop ones and any named in `Connection`. Keeps repeated Set-Cookie. */
export function headerPairs(headers: Headers): [string, string][] {
  const named = new Set(
    (headers.get('connection') ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean),
  );
  const pairs: [string, string][] = [];
  for (const [name, value] of headers) {
    if (HOP_BY_HOP.has(name) || named.has(name) || name === 'set-cookie') continue;
    pairs.push([name, value]);
  }
  for (const cookie of headers.getSetCookie?.() ?? []) pairs.push(['set-cookie', cookie]);
  return pairs;
}

/** Builds Headers from received pairs, dropping hop-by-hop ones the peer should not have sent. */
export function toHeaders(pairs: [string, string][]): Headers {
  const headers = new Headers();
  for (const [name, value] of pairs) {
    if (HOP_BY_HOP.has(name.toLowerCase())) continue;
    headers.append(name, value);
  }
  return headers;
}
