/**
 * `npm run cluster` as a user runs it: a real process that starts redis-server and three relay
 * nodes, prints their URLs (each answers /healthz, the followers forward the control plane to
 * the writer), and on SIGINT (Ctrl-C) stops every process it started and exits 0.
 */
import { spawn } from 'node:child_process';
import { expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { describeWithRedis } from '../relay/testing/redis-gate.js';
import { processAlive } from '../test/cluster/process-alive.js';

describeWithRedis('npm run cluster', () => {
  it('starts Redis and 3 nodes, prints their URLs, and leaves nothing behind on Ctrl-C', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/cluster.ts', '--nodes', '3', '--port-base', '0'], {
      env: { ...process.env, SIDEBAND_ADMIN_KEY: 'cluster-script-test-admin-key' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        const onData = (chunk: Buffer): void => {
          output += String(chunk);
          if (output.includes('Ctrl-C to stop.')) resolve();
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', (chunk: Buffer) => (output += String(chunk)));
        void exited.then((code) => reject(new Error(`exited with ${code} before it was up:\n${output}`)));
      });
      const redisLine = /^redis {3}(redis:\/\/127\.0\.0\.1:(\d+)) .*pid (\d+)/m.exec(output);
      const nodes = [...output.matchAll(/^node (n\d+) {2}(http:\/\/127\.0\.0\.1:\d+) {2}pid (\d+)(.*)$/gm)];
      expect(redisLine, output).not.toBeNull();
      expect(nodes.map((n) => n[1]), output).toEqual(['n0', 'n1', 'n2']);
      expect(nodes[0]![4]).toContain('control-plane writer');
      expect(output).toContain('admin key  from SIDEBAND_ADMIN_KEY');
      expect(output).not.toContain('cluster-script-test-admin-key');

      for (const [, , url] of nodes) expect((await fetch(`${url}/healthz`)).status, url).toBe(200);
      // A follower serves the writer's JWKS (forwarded), so tokens verify on every node.
      const jwks = await Promise.all(nodes.map(async ([, , url]) => (await fetch(`${url}/.well-known/jwks.json`)).json()));
      expect(jwks[1]).toEqual(jwks[0]);
      const redis = new Redis(redisLine![1]!, { lazyConnect: true, maxRetriesPerRequest: 0 });
      await redis.connect();
      expect(await redis.ping()).toBe('PONG');
      redis.disconnect();

      const pids = [Number(redisLine![3]), ...nodes.map((n) => Number(n[3]))];
      expect(pids.every(processAlive)).toBe(true);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(pids.filter(processAlive), 'processes left running').toEqual([]);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
