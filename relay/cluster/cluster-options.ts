import { hostname } from 'node:os';
import { NODE_ID_PATTERN } from './envelope-codec.js';

/** Timers of the Redis backplane (scale-out.md §2, §5, §7); shortened by flags in tests. */
export interface ClusterTimers {
  /** Owner lease TTL (`sb:{d:<id>}:owner`). */
  leaseTtlMs: number;
  /** How often a lease is renewed (compare-and-expire) and this node's session registry refreshed. */
  leaseRenewMs: number;
  /** How often this node writes `sb:node:<id>` and checks the nodes it exchanges sessions with. */
  heartbeatMs: number;
  /** A node whose heartbeat is older than this is dead (its key's TTL). */
  deadAfterMs: number;
  /** Idle this long, the node publishes a probe to its own inbox; no echo within as long again = deaf subscriber. */
  probeIntervalMs: number;
}

export const DEFAULT_CLUSTER_TIMERS: Readonly<ClusterTimers> = Object.freeze({
  leaseTtlMs: 15_000,
  leaseRenewMs: 5000,
  heartbeatMs: 3000,
  deadAfterMs: 10_000,
  probeIntervalMs: 5000,
});

export interface ClusterOptions {
  /** `memory` (default: one process, no Redis) or `redis`. */
  backplane?: 'memory' | 'redis';
  /** `redis://` or `rediss://` URL; required with `redis`. */
  redisUrl?: string;
  /** This node's id in Redis keys and envelopes. Default `<hostname>-<pid>` (sanitised). */
  nodeId?: string;
  timers?: Partial<ClusterTimers>;
}

export interface ResolvedClusterOptions {
  backplane: 'memory' | 'redis';
  redisUrl: string | undefined;
  nodeId: string;
  timers: ClusterTimers;
}

/** Default node id: hostname and pid, cut to the allowed characters and length. */
export function defaultNodeId(): string {
  const host = hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 48) || 'node';
  return `${host}-${process.pid}`;
}

/** Fills defaults; throws RangeError on an inconsistent set (a renew slower than the lease, etc.). */
export function resolveClusterOptions(options: ClusterOptions = {}): ResolvedClusterOptions {
  const backplane = options.backplane ?? 'memory';
  if (backplane !== 'memory' && backplane !== 'redis') throw new RangeError(`unknown backplane ${String(backplane)}`);
  if (backplane === 'redis' && !options.redisUrl) throw new RangeError('the redis backplane needs redisUrl');
  const nodeId = options.nodeId ?? defaultNodeId();
  if (!NODE_ID_PATTERN.test(nodeId)) throw new RangeError('nodeId must be 1..64 characters of A-Z a-z 0-9 . _ -');
  const timers: ClusterTimers = { ...DEFAULT_CLUSTER_TIMERS, ...options.timers };
  for (const [name, value] of Object.entries(timers)) {
    if (!Number.isFinite(value) || value <= 0) throw new RangeError(`timers.${name} must be a finite number > 0`);
  }
  if (timers.leaseRenewMs >= timers.leaseTtlMs) throw new RangeError('the lease renew interval must be shorter than the lease TTL');
  if (timers.heartbeatMs >= timers.deadAfterMs) throw new RangeError('the node heartbeat must be shorter than dead-after');
  return { backplane, redisUrl: options.redisUrl, nodeId, timers };
}
