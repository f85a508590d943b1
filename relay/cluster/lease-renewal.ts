import type { BackplaneScripts } from './redis-scripts.js';
import { EPOCH_TTL_MS, RedisKeys } from './redis-keys.js';
import type { OwnedDaemon } from './owned-daemons.js';

/**
 * Renews each owned lease by compare-and-expire (scale-out.md §2) and returns the ones another
 * node holds now: their sockets must close at once (self-fence). A lease that merely expired
 * while Redis was away (or that an emptied Redis forgot) is put back by the script, not lost.
 */
export async function renewLeases(scripts: BackplaneScripts, owned: readonly OwnedDaemon[], leaseTtlMs: number): Promise<OwnedDaemon[]> {
  const results = await Promise.all(owned.map((o) =>
    scripts.run('sbRenew', RedisKeys.owner(o.did), RedisKeys.epoch(o.did), o.lease, o.epoch.toString(10), leaseTtlMs, EPOCH_TTL_MS)));
  return owned.filter((_, i) => results[i] === 0);
}

/**
 * Extends this node's entries in each daemon's session registry (the cluster-wide session limit
 * and the list a new owner notifies); entries not refreshed expire with their node.
 */
export async function touchSessions(scripts: BackplaneScripts, node: string, ttlMs: number, sessions: ReadonlyMap<string, bigint[]>): Promise<void> {
  await Promise.all([...sessions].map(([did, sids]) =>
    scripts.run('sbTouchSessions', RedisKeys.sessions(did), node, ttlMs, ...sids.map((sid) => sid.toString(10)))));
}
