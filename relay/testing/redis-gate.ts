import { describe } from 'vitest';
import { redisServerAvailable } from './redis-server.js';

/**
 * `describe` for suites that need a private redis-server (issue 10, "Done when"): without one
 * the suite is skipped with the reason printed, except in CI (`CI` set), where it fails, so CI
 * never passes by skipping.
 *
 *   describeWithRedis('redis backplane: two nodes', { timeout: 30_000 }, () => { … });
 */
export function describeWithRedis(name: string, body: () => void): void;
export function describeWithRedis(name: string, options: { timeout?: number }, body: () => void): void;
export function describeWithRedis(name: string, second: { timeout?: number } | (() => void), third?: () => void): void {
  const options = typeof second === 'function' ? {} : second;
  const body = typeof second === 'function' ? second : third!;
  const available = redisServerAvailable();
  if (available.ok) return void describe(name, options, body);
  if (process.env.CI) throw new Error(`${name}: needs redis-server in CI: ${available.reason}`);
  process.stderr.write(`skipping "${name}": ${available.reason} (CI would fail here)\n`);
  describe.skip(name, options, body);
}
