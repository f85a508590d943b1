import { expect } from 'vitest';
import WebSocket from 'ws';
import { toBase64Url } from '../../protocol/bytes.js';
import { connect, type ConnectEvents, type ConnectOptions, type SidebandClient } from '../../client/connect.js';
import { connectClient } from '../../client/connect-client.js';
import { MemoryPinStore } from '../../client/pin-store.js';
import { controlPlaneTokens, type GetToken } from '../../client/session-token-source.js';
import { generateIdentity, type DaemonIdentity } from '../../daemon/identity.js';
import { listen } from '../../daemon/listen.js';
import type { Listener, ListenEvents, ListenOptions } from '../../daemon/listen-types.js';
import { ControlPlaneClient } from '../../node/control-plane-client.js';
import { startCluster, type Cluster, type ClusterNode, type ClusterOptions } from '../../relay/testing/cluster.js';
import { openTrackedPeer, TestPeer, type ConnectResult } from '../../relay/testing/harness.js';
import { startRedisServer, type RedisServer, type RedisServerOptions } from '../../relay/testing/redis-server.js';
import { startTcpBalancer, type TcpBalancer } from '../../relay/testing/tcp-balancer.js';
import type { RelayClient } from '../../web/client-types.js';
import { FAST_RECONNECT } from '../helpers/relay-fixture.js';
import { numberedData, receiveNumbered } from './frames.js';

/**
 * A private redis-server, N relay processes on it (relay/testing/cluster.ts), a TCP balancer in
 * front of them, and the project's own daemons and clients pointed at chosen nodes. Everything a
 * test opens through `open*`, `serve` and `client` is closed by `closeEach()` (afterEach);
 * `close()` stops the processes too.
 */

/** Where a peer connects: a node, or the balancer (which skips dead nodes). */
export type Endpoint = Pick<ClusterNode, 'url' | 'wsUrl'> | TcpBalancer;

export interface TestDaemonReg {
  identity: DaemonIdentity;
  daemonId: string;
  apiKey: string;
}

/** A raw daemon peer and a raw client peer in one session, from `ClusterFixture.rawSession`. */
export interface RawSession {
  daemon: TestPeer;
  client: TestPeer;
  sessionId: bigint;
}

export interface ClusterFixture {
  readonly redis: RedisServer | undefined;
  readonly cluster: Cluster;
  readonly balancer: TcpBalancer;
  node(index: number): ClusterNode;
  registerDaemon(): Promise<TestDaemonReg>;
  /** A `getToken` for clients, through `via`'s control-plane API. */
  tokens(reg: TestDaemonReg, via?: Endpoint): GetToken;
  presenceToken(reg: TestDaemonReg, resume?: boolean, via?: Endpoint): Promise<string>;
  sessionToken(reg: TestDaemonReg, via?: Endpoint): Promise<{ token: string; sessionId: bigint }>;
  /** `listen()` against `at` (control plane and WebSocket). */
  serve(reg: TestDaemonReg, at: Endpoint, options: Partial<ListenOptions> & Pick<ListenOptions, 'fetch'>): Promise<Listener>;
  /** `connect()` against `at`. */
  client(reg: TestDaemonReg, at: Endpoint, options?: Partial<ConnectOptions>): SidebandClient;
  /** The bare connection loop (states paused/pending/resumed, Control codes as errors). */
  relayClient(reg: TestDaemonReg, at: Endpoint, options?: Partial<Parameters<typeof connectClient>[0]>): RelayClient;
  /** A raw WebSocket peer with `token` (Authorization header). */
  openPeer(at: Endpoint, token: string): Promise<ConnectResult>;
  peer(at: Endpoint, token: string): Promise<TestPeer>;
  /**
   * A raw daemon peer online at `daemonAt` and a raw client peer in session with it at `clientAt`
   * (tokens from the writer), with numbered Data frame 0 sent by the client and received by the
   * daemon (as in a real session the client speaks first: the daemon learns the sid from it),
   * and with `echo` frame 0 sent back and received by the client too.
   */
  rawSession(reg: TestDaemonReg, daemonAt: Endpoint, clientAt: Endpoint, options?: { echo?: boolean }): Promise<RawSession>;
  closeEach(): Promise<void>;
  close(): Promise<void>;
}

/** How long `serve()` waits for the daemon to connect before failing with the nodes' logs. */
const SERVE_TIMEOUT_MS = 15_000;

export interface ClusterFixtureOptions extends Omit<ClusterOptions, 'redis'> {
  redisOptions?: RedisServerOptions;
}

export async function startClusterFixture(options: ClusterFixtureOptions = {}): Promise<ClusterFixture> {
  const memory = options.backplane === 'memory';
  const redis = memory ? undefined : await startRedisServer(options.redisOptions);
  let cluster: Cluster;
  try {
    cluster = await startCluster({ ...options, ...(redis && { redis: redis.url }) });
  } catch (error) {
    await redis?.stop();
    throw error;
  }
  const balancer = await startTcpBalancer(cluster.nodes.map((n) => n.port));
  const servers: Listener[] = [];
  const clients: { close(): Promise<void> }[] = [];
  const sockets = new Set<WebSocket>();
  const cp = (via: Endpoint): ControlPlaneClient => new ControlPlaneClient({ baseUrl: via.url });

  const fixture: ClusterFixture = {
    redis,
    cluster,
    balancer,
    node: (index) => cluster.nodes[index]!,
    async registerDaemon() {
      const identity = generateIdentity();
      const { daemonId, apiKey } = await cluster.registerDaemon(toBase64Url(identity.publicKey));
      return { identity, daemonId, apiKey };
    },
    tokens: (reg, via = cluster.writer) => controlPlaneTokens({ baseUrl: via.url, bearer: reg.apiKey, daemonId: reg.daemonId }),
    async presenceToken(reg, resume = true, via = cluster.writer) {
      return (await cp(via).presenceToken(reg.apiKey, { resume })).token;
    },
    async sessionToken(reg, via = cluster.writer) {
      const issued = await cluster.sessionToken(reg.apiKey, reg.daemonId, cluster.nodes.find((n) => n.url === via.url) ?? cluster.writer);
      return { token: issued.token, sessionId: issued.sessionId };
    },
    async serve(reg, at, listenOptions) {
      const server = await listen({
        relay: at.url, wsUrl: at.wsUrl, apiKey: reg.apiKey, identity: reg.identity, reconnect: FAST_RECONNECT, handlerTimeoutMs: 10_000, ...listenOptions, waitUntilConnected: false,
      });
      servers.push(server);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`daemon not connected through ${at.url} within ${SERVE_TIMEOUT_MS} ms (${server.status.lastError?.message ?? 'no error'})\n${clusterLogs(cluster)}`)), SERVE_TIMEOUT_MS);
      });
      try {
        await Promise.race([server.ready(), late]);
      } finally {
        clearTimeout(timer);
      }
      return server;
    },
    client(reg, at, clientOptions = {}) {
      const client = connect({
        relay: at.url, wsUrl: at.wsUrl, daemonId: reg.daemonId, getToken: fixture.tokens(reg, at), pinStore: new MemoryPinStore(), reconnect: FAST_RECONNECT, ...clientOptions,
      });
      clients.push(client);
      return client;
    },
    relayClient(reg, at, clientOptions = {}) {
      const client = connectClient({
        relay: at.url, wsUrl: at.wsUrl, daemonId: reg.daemonId, getToken: fixture.tokens(reg, at), pinStore: new MemoryPinStore(), reconnect: FAST_RECONNECT, ...clientOptions,
      });
      clients.push(client);
      return client;
    },
    openPeer(at, token) {
      return openTrackedPeer(at.wsUrl, { authorization: `Bearer ${token}` }, sockets);
    },
    async peer(at, token) {
      const result = await fixture.openPeer(at, token);
      if (!result.ok) throw new Error(`upgrade refused at ${at.wsUrl}: ${result.status} ${result.body}`);
      return result.peer;
    },
    async rawSession(reg, daemonAt, clientAt, { echo = false } = {}) {
      const daemon = await fixture.peer(daemonAt, await fixture.presenceToken(reg));
      const { token, sessionId } = await fixture.sessionToken(reg);
      const client = await fixture.peer(clientAt, token);
      client.send(numberedData(sessionId, 0));
      expect(await receiveNumbered(daemon, sessionId, 1)).toEqual([0]);
      if (echo) {
        daemon.send(numberedData(sessionId, 0));
        expect(await receiveNumbered(client, sessionId, 1)).toEqual([0]);
      }
      return { daemon, client, sessionId };
    },
    async closeEach() {
      for (const ws of sockets) ws.terminate();
      sockets.clear();
      await Promise.all(clients.splice(0).map((c) => c.close()));
      await Promise.all(servers.splice(0).map((s) => s.close()));
    },
    async close() {
      await fixture.closeEach();
      await balancer.close();
      await cluster.stop();
      await redis?.stop();
    },
  };
  return fixture;
}

/** The stderr tails of every node, for an assertion message that says what the relays saw. */
export function clusterLogs(cluster: Cluster, tail = 1500): string {
  return cluster.nodes.map((n) => `--- node ${n.index} (${n.running ? 'running' : 'down'}) ---\n${n.stderr().slice(-tail)}`).join('\n');
}

type Untyped = { on(type: string, listener: (event: unknown) => void): () => void };

/** The next `type` event of a client matching `filter`, within `timeoutMs`. */
export function clientEvent<K extends keyof ConnectEvents>(client: SidebandClient, type: K, timeoutMs: number, filter: (event: ConnectEvents[K]) => boolean = () => true): Promise<ConnectEvents[K]> {
  return nextOf(client as unknown as Untyped, type, timeoutMs, filter as (event: unknown) => boolean) as Promise<ConnectEvents[K]>;
}

/** The next `type` event of a daemon (`listen()`) matching `filter`, within `timeoutMs`. */
export function daemonEvent<K extends keyof ListenEvents>(server: Listener, type: K, timeoutMs: number, filter: (event: ListenEvents[K]) => boolean = () => true): Promise<ListenEvents[K]> {
  return nextOf(server as unknown as Untyped, type, timeoutMs, filter as (event: unknown) => boolean) as Promise<ListenEvents[K]>;
}

function nextOf(source: Untyped, type: string, timeoutMs: number, filter: (event: unknown) => boolean): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${type} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = source.on(type, (event) => {
      if (!filter(event)) return;
      clearTimeout(timer);
      off();
      resolve(event);
    });
  });
}
