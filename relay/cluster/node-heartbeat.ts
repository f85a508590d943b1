import type { Redis } from 'ioredis';
import { RedisKeys } from './redis-keys.js';

/**
 * Writes this node's heartbeat (`sb:node:<id>`, TTL = dead-after) and returns which of `peers`
 * have none any more: those nodes are dead (scale-out.md §7). A peer whose check failed is not
 * declared dead: only a missing key says so.
 */
export async function beatAndFindDead(command: Redis, node: string, deadAfterMs: number, peers: ReadonlySet<string>): Promise<string[]> {
  await command.set(RedisKeys.node(node), String(Date.now()), 'PX', deadAfterMs);
  const nodes = [...peers].filter((peer) => peer !== node);
  if (nodes.length === 0) return [];
  const pipeline = command.pipeline();
  for (const peer of nodes) pipeline.exists(RedisKeys.node(peer));
  const replies = (await pipeline.exec()) ?? [];
  return nodes.filter((_, i) => {
    const [error, exists] = replies[i] ?? [new Error('no reply'), 1];
    return !error && exists === 0;
  });
}
