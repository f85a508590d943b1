/**
 * The cluster suite's own parts, on the real things: a private redis-server (start, PING,
 * config, kill, restart on the same port, nothing left running) and the TCP balancer the
 * nodes run behind.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { redisServerAvailable, startRedisServer, type RedisServer } from '../../relay/testing/redis-server.js';
import { startTcpBalancer } from '../../relay/testing/tcp-balancer.js';
import { checkNoLeakedHandles } from '../helpers/leak-check.js';
import { waitFor } from '../helpers/wait.js';
import { describeWithRedis } from '../../relay/testing/redis-gate.js';
import { processAlive } from './process-alive.js';

describeWithRedis('cluster test infrastructure', () => {
  checkNoLeakedHandles();
  const servers: RedisServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });

  it('starts a private redis-server that answers, without persistence, with extra config applied', async () => {
    const redis = await startRedisServer({ config: { 'client-output-buffer-limit': 'pubsub 64kb 32kb 0' } });
    servers.push(redis);
    expect(redis.port).not.toBe(6379);
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(await redis.cli('PING')).toBe('PONG');
    expect(await redis.cli('CONFIG', 'GET', 'save')).toEqual(['save', '']);
    expect(await redis.cli('CONFIG', 'GET', 'appendonly')).toEqual(['appendonly', 'no']);
    expect(String(await redis.cli('CONFIG', 'GET', 'client-output-buffer-limit'))).toMatch(/pubsub 65536 32768 0/);
    const [, version] = /redis_version:(\S+)/.exec(String(await redis.cli('INFO', 'server')))!;
    expect(Number(version!.split('.')[0])).toBeGreaterThanOrEqual(7);
  });

  it('kill -9 then restart comes back on the same port with a new process and empty data; stop is idempotent and leaves nothing', async () => {
    const redis = await startRedisServer();
    servers.push(redis);
    await redis.cli('SET', 'k', 'v');
    const firstPid = redis.pid;
    await redis.kill('SIGKILL');
    expect(processAlive(firstPid)).toBe(false);
    await expect(redis.cli('PING')).rejects.toThrow();
    await redis.restart();
    expect(redis.pid).not.toBe(firstPid);
    expect(await redis.cli('GET', 'k')).toBeNull();
    const secondPid = redis.pid;
    await Promise.all([redis.stop(), redis.stop()]);
    expect(processAlive(secondPid)).toBe(false);
  });

  it('a stopped (SIGSTOP) server is restarted too', async () => {
    const redis = await startRedisServer();
    servers.push(redis);
    await redis.kill('SIGSTOP');
    await redis.restart();
    expect(await redis.cli('PING')).toBe('PONG');
  });

  it('reports a missing binary with a reason instead of throwing', () => {
    const missing = redisServerAvailable('/nonexistent/redis-server');
    expect(missing).toMatchObject({ ok: false });
    expect((missing as { reason: string }).reason).toMatch(/not runnable.*apt-get install redis-server/);
    expect(redisServerAvailable()).toMatchObject({ ok: true });
  });

  it('the TCP balancer sends each connection to the first backend that accepts, in the chosen order', async () => {
    const hits: string[] = [];
    const backend = async (name: string): Promise<Server> => {
      const server = createServer((socket) => {
        hits.push(name);
        socket.end(name);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
      return server;
    };
    const [a, b] = await Promise.all([backend('a'), backend('b')]);
    const ports = new Map([a, b].map((s) => [s, (s.address() as { port: number }).port]));
    const port = (s: Server): number => ports.get(s)!;
    const balancer = await startTcpBalancer([port(a), port(b)]);
    const read = (): Promise<string> => new Promise((resolve, reject) => {
      const socket: Socket = connect(balancer.port, '127.0.0.1');
      let text = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      socket.once('close', () => resolve(text));
      socket.once('error', reject);
    });
    try {
      expect(await read()).toBe('a');
      balancer.route([port(b), port(a)]);
      expect(await read()).toBe('b');
      await new Promise<void>((resolve) => a.close(() => resolve()));
      balancer.route([port(a), port(b)]); // a refuses now: skipped
      expect(await read()).toBe('b');
      expect(hits).toEqual(['a', 'b', 'b']);
    } finally {
      await Promise.all([balancer.close(), balancer.close()]);
      await new Promise<void>((resolve) => b.close(() => resolve()));
    }
  });

  it('the TCP balancer closes connections past its bound at once', async () => {
    const held: Socket[] = [];
    const backend = createServer((socket) => void held.push(socket));
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', () => resolve()));
    const balancer = await startTcpBalancer([(backend.address() as { port: number }).port], 2);
    const open = async (): Promise<Socket> => {
      const socket = connect(balancer.port, '127.0.0.1');
      socket.on('error', () => {});
      await new Promise((resolve) => socket.once('connect', resolve));
      return socket;
    };
    try {
      const first = [await open(), await open()];
      await waitFor(() => held.length === 2, 'both connections at the backend');
      expect(balancer.connections).toBe(2);
      const third = await open();
      await new Promise((resolve) => third.once('close', resolve)); // refused past the bound
      expect(held).toHaveLength(2);
      for (const socket of first) socket.destroy();
    } finally {
      await balancer.close();
      for (const socket of held) socket.destroy();
      await new Promise<void>((resolve) => backend.close(() => resolve()));
    }
  });
});
