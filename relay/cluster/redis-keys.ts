/**
 * Every key and channel the backplane uses (scale-out.md §2, §4, §8). The `{d:<id>}` and
 * `{n:<node>}` hash tags keep one daemon's keys (and one node's inbox) in one Redis Cluster slot,
 * so each Lua script touches a single slot. Everything here has a TTL; nothing is the system of
 * record.
 */
export const RedisKeys = {
  /** `<node>:<epoch>` of the node holding the daemon's socket; PX lease TTL. */
  owner: (did: string): string => `sb:{d:${did}}:owner`,
  /** INCR fencing epoch of the daemon's lease; long TTL refreshed on each acquire. */
  epoch: (did: string): string => `sb:{d:${did}}:epoch`,
  /** Hash sid → `<edge node>|<expires ms>`: the daemon's client sessions cluster-wide. */
  sessions: (did: string): string => `sb:{d:${did}}:sessions`,
  /** A used client SessionID (HTTP 409 cluster-wide until its token has expired). */
  sid: (sid: bigint): string => `sb:sid:${sid.toString(16)}`,
  /** A node's heartbeat; gone = the node is dead. */
  node: (node: string): string => `sb:node:${node}`,
  /** A revoked principal; its older tokens are refused until this expires. */
  revoked: (sub: string): string => `sb:revoked:${sub}`,
  /** PUB/SUB inbox of one node. */
  inbox: (node: string): string => `sb:{n:${node}}:in`,
  /** PUB/SUB channel of revocations, heard by every node. */
  revocations: 'sb:revocations',
} as const;

/** How long an epoch counter outlives its last acquire: far beyond any lease or stalled node. */
export const EPOCH_TTL_MS = 7 * 24 * 3600_000;
