import { describe, expect, it } from 'vitest';
import { parseRelayArgs, USAGE } from '../cli-args.js';
import { resolveOptions } from '../options.js';
import { refusedUsage } from '../testing/cli-usage.js';
import { DEFAULT_CLUSTER_TIMERS, resolveClusterOptions } from './cluster-options.js';

/** The cluster flags: validated together, exit 2 on anything off, every one in --help. */

const run = (argv: string[], env: Record<string, string> = {}) => {
  const command = parseRelayArgs(argv, env);
  if (command.kind !== 'run') throw new Error('expected run');
  return command.options;
};

describe('cluster flags', () => {
  it('default to the memory backplane, with no cluster options at all', () => {
    expect(run([]).cluster).toBeUndefined();
    expect(resolveOptions({}).cluster.backplane).toBe('memory');
    expect(run(['--backplane', 'memory']).cluster).toBeUndefined();
  });

  it('parse a redis node with its timers, from flags or variables', () => {
    expect(run(['--backplane', 'redis', '--redis', 'redis://127.0.0.1:6390', '--node-id', 'n1', '--lease-ttl', '1.5', '--lease-renew', '0.3',
      '--node-heartbeat', '0.2', '--node-dead-after', '1', '--probe-interval', '0.5'])).toMatchObject({
      cluster: { backplane: 'redis', redisUrl: 'redis://127.0.0.1:6390', nodeId: 'n1',
        timers: { leaseTtlMs: 1500, leaseRenewMs: 300, heartbeatMs: 200, deadAfterMs: 1000, probeIntervalMs: 500 } },
    });
    expect(run([], { SIDEBAND_RELAY_BACKPLANE: 'redis', SIDEBAND_RELAY_REDIS_URL: 'rediss://cache.internal:6380', SIDEBAND_RELAY_NODE_ID: 'edge-2' }))
      .toMatchObject({ cluster: { backplane: 'redis', redisUrl: 'rediss://cache.internal:6380', nodeId: 'edge-2' } });
    expect(run(['--control-plane-url', 'http://10.0.0.1:8787']).controlPlaneUrl).toBe('http://10.0.0.1:8787');
    expect(resolveOptions({ controlPlaneUrl: 'http://10.0.0.1:8787' }).jwksUrl).toBe('http://10.0.0.1:8787/.well-known/jwks.json');
  });

  it('refuse unknown backplanes, a missing or odd Redis URL, bad node ids and inconsistent timers (exit 2)', () => {
    expect(refusedUsage(['--backplane', 'etcd'])).toMatch(/memory or redis/);
    expect(refusedUsage(['--backplane', 'redis'])).toMatch(/needs --redis/);
    expect(refusedUsage(['--backplane', 'redis', '--redis', 'http://x'])).toMatch(/redis:\/\//);
    expect(refusedUsage(['--backplane', 'redis', '--redis', 'not a url'])).toMatch(/redis:\/\//);
    expect(refusedUsage(['--backplane', 'redis', '--redis', 'redis://x', '--node-id', 'has space'])).toMatch(/--node-id/);
    expect(refusedUsage(['--backplane', 'redis', '--redis', 'redis://x', '--node-id', 'x'.repeat(65)])).toMatch(/--node-id/);
    expect(refusedUsage(['--backplane', 'redis', '--redis', 'redis://x', '--lease-renew', '20'])).toMatch(/--lease-renew must be shorter/);
    expect(refusedUsage(['--backplane', 'redis', '--redis', 'redis://x', '--node-heartbeat', '10'])).toMatch(/--node-heartbeat must be shorter/);
    expect(refusedUsage(['--backplane', 'redis', '--redis', 'redis://x', '--lease-ttl', '0'])).toMatch(/--lease-ttl/);
    expect(refusedUsage(['--redis', 'redis://x'])).toMatch(/--redis needs --backplane redis/);
    expect(refusedUsage(['--node-id', 'n1'])).toMatch(/--node-id needs --backplane redis/);
    expect(refusedUsage(['--lease-ttl', '3'])).toMatch(/--lease-ttl needs --backplane redis/);
    expect(refusedUsage(['--control-plane-url', 'ftp://x'])).toMatch(/http/);
    expect(refusedUsage(['--cross-node-window', '1024'])).toMatch(/--cross-node-window/);
  });

  it('lists every flag and variable in --help', () => {
    for (const text of ['--backplane', '--redis', '--node-id', '--control-plane-url', '--lease-ttl', '--lease-renew', '--node-heartbeat',
      '--node-dead-after', '--probe-interval', '--cross-node-window', '--cross-node-stall-timeout', 'SIDEBAND_RELAY_REDIS_URL', 'SIDEBAND_RELAY_NODE_ID']) {
      expect(USAGE).toContain(text);
    }
  });

  it('resolve programmatic options with the same rules', () => {
    expect(resolveClusterOptions({ backplane: 'redis', redisUrl: 'redis://x' }).timers).toEqual(DEFAULT_CLUSTER_TIMERS);
    expect(resolveClusterOptions().nodeId).toMatch(/^[A-Za-z0-9._-]{1,64}$/);
    expect(() => resolveClusterOptions({ backplane: 'redis' })).toThrow(/redisUrl/);
    expect(() => resolveClusterOptions({ nodeId: 'a b' })).toThrow(/nodeId/);
    expect(() => resolveClusterOptions({ timers: { leaseRenewMs: 20_000 } })).toThrow(/renew/);
    expect(() => resolveClusterOptions({ timers: { heartbeatMs: Number.NaN } })).toThrow(/finite/);
  });
});
