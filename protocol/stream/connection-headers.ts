/**
 * Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus `host`, which
 * names the relay hop rather than the daemon. They never cross the session in either direction
 * (docs/protocol.md §3): an exact list, not a `proxy-` prefix, so end-to-end headers such as
 * `proxy-status` (RFC 9209) still pass.
 */
export const CONNECTION_HEADERS: ReadonlySet<string> = new Set([
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

/** Lower-case names listed in the values of every `connection` pair. */
export function namedInConnection(pairs: Iterable<readonly [string, string]>): Set<string> {
  const named = new Set<string>();
  for (const [name, value] of pairs) {
    if (name.toLowerCase() !== 'connection') continue;
    for (const token of value.split(',')) {
      const trimmed = token.trim().toLowerCase();
      if (trimmed) named.add(trimmed);
    }
  }
  return named;
}

/** The pairs minus connection headers and any header a `connection` pair names; order kept. */
export function stripConnectionHeaders(pairs: [string, string][]): [string, string][] {
  const named = namedInConnection(pairs);
  const kept = pairs.filter(([name]) => {
    const lower = name.toLowerCase();
    return !CONNECTION_HEADERS.has(lower) && !named.has(lower);
  });
  return kept.length === pairs.length ? pairs : kept;
}
