import { Redis, type RedisOptions } from 'ioredis';

/**
 * The three Redis connections of a node (scale-out.md §4): commands (leases, registry, scripts),
 * publishing (one connection, so one node's envelopes keep their order) and subscribing (the
 * inbox). None queues while disconnected and none retries a command: with an offline queue a
 * Redis restart lost frames silently (scale-out.md, measured), without it each loss is an error.
 */
export interface RedisConnections {
  readonly command: Redis;
  readonly publisher: Redis;
  readonly subscriber: Redis;
  /** All three ready. */
  ready(): boolean;
  close(): void;
}

/** Reconnect delay: quick at first, at most 1 s, so a restarted Redis is found again promptly. */
const retryStrategy = (times: number): number => Math.min(50 * times, 1000);

export async function connectRedis(url: string, name: string): Promise<RedisConnections> {
  const base: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy,
    connectTimeout: 5000,
    // A connection that failed its first connect must still keep trying (retryStrategy).
    enableReadyCheck: true,
  };
  // A hung Redis must not hold upgrades (they count against maxConnections) for ever.
  const command = new Redis(url, { ...base, connectionName: `${name}:cmd`, commandTimeout: 5000 });
  const publisher = new Redis(url, { ...base, connectionName: `${name}:pub` });
  // The subscriber re-subscribes by itself after a reconnect (autoResubscribe).
  const subscriber = new Redis(url, { ...base, connectionName: `${name}:sub`, autoResubscribe: true });
  const all = [command, publisher, subscriber];
  // Errors surface as failed commands and status changes; the 'error' event only needs a listener.
  for (const connection of all) connection.on('error', () => {});
  try {
    await Promise.all(all.map((c) => c.connect()));
  } catch (error) {
    for (const connection of all) connection.disconnect();
    throw new Error(`cannot reach Redis at ${redactRedisUrl(url)}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return {
    command,
    publisher,
    subscriber,
    ready: () => all.every((c) => c.status === 'ready'),
    close: () => {
      for (const connection of all) connection.disconnect();
    },
  };
}

/** The URL without its password, for messages. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable Redis URL)';
  }
}
