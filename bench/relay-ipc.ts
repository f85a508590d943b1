/** Messages between bench/relay.bench.ts and its forwarder child, bench/relay-child.ts. */
export type RelayChildRequest = { type: 'tokens'; sessions: number } | { type: 'memory' } | { type: 'exit' };

export type RelayChildReply =
  | { type: 'ready'; url: string; bufferutil: boolean }
  | { type: 'tokens'; daemon: string; clients: string[]; sids: string[] }
  | { type: 'memory'; bytes: number; rss: number; connections: number };
