/**
 * connectClient() against a real relay and daemon, through a TCP proxy that sees every
 * connection: the WebSocket connection is opened while the token is still being fetched, and
 * the upgrade then travels on it (issue 9), so a new session does not wait for a connection
 * setup after its token.
 */
import { once } from 'node:events';
import { createServer, connect as netConnect, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from '../daemon/listen.js';
import type { Listener } from '../daemon/listen-types.js';
import { checkNoLeakedHandles } from '../test/helpers/leak-check.js';
import { FAST_RECONNECT, startRelayFixture, type RegisteredTestDaemon, type RelayFixture } from '../test/helpers/relay-fixture.js';
import { connectClient } from './connect-client.js';
import { MemoryPinStore } from './pin-store.js';
import type { GetToken } from './session-token-source.js';

/** Forwards every connection to `target`; `connections` counts them. */
async function tcpProxy(target: URL): Promise<{ url: string; connections: () => number; nextConnection: () => Promise<[Socket]>; close: () => Promise<void> }> {
  const open = new Set<Socket>();
  let count = 0;
  const server: Server = createServer((socket) => {
    count++;
    const upstream = netConnect({ host: target.hostname, port: Number(target.port) });
    for (const s of [socket, upstream]) {
      open.add(s);
      s.on('error', () => {});
      s.on('close', () => open.delete(s));
    }
    socket.pipe(upstream).pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => count,
    nextConnection: () => once(server, 'connection') as Promise<[Socket]>,
    close: async () => {
      for (const s of open) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

describe('connectClient()', () => {
  checkNoLeakedHandles(5_000);
  let fx: RelayFixture;
  let reg: RegisteredTestDaemon;
  let daemon: Listener;

  beforeAll(async () => {
    fx = await startRelayFixture();
    reg = await fx.registerDaemon();
    daemon = await listen({ relay: fx.relay.url, apiKey: reg.apiKey, identity: reg.identity, reconnect: FAST_RECONNECT, fetch: async () => new Response('ok') });
  });
  afterAll(async () => {
    await daemon?.close();
    await fx?.close();
  });

  /** A client of the test daemon through the relay at `relay` (the proxy), with `getToken`. */
  const clientVia = (relay: string, getToken: GetToken) =>
    connectClient({ relay, daemonId: reg.daemonId, pinStore: new MemoryPinStore(), reconnect: FAST_RECONNECT, getToken });

  it('opens the relay connection while the token is fetched, and upgrades on it', async () => {
    const proxy = await tcpProxy(new URL(fx.relay.url));
    const tokens = fx.tokens(reg);
    const connected = proxy.nextConnection();
    // The token only comes once the relay saw the connection: without the connection opened
    // ahead, this attempt would never get one.
    const client = clientVia(proxy.url, async (signal) => {
      await connected;
      return tokens(signal);
    });
    try {
      await client.ready();
      expect(client.state).toBe('open');
      expect(proxy.connections()).toBe(1);
    } finally {
      await client.close();
      await proxy.close();
    }
  });

  it('closes the connection opened ahead when the token request fails, and tries again', async () => {
    const proxy = await tcpProxy(new URL(fx.relay.url));
    const tokens = fx.tokens(reg);
    const first = proxy.nextConnection();
    let calls = 0;
    const client = clientVia(proxy.url, async (signal) => {
      if (++calls > 1) return tokens(signal);
      await first; // the connection is open, then the token request fails
      throw Object.assign(new Error('control plane down'), { code: 'network_error' });
    });
    try {
      const [unused] = await first;
      await once(unused, 'close'); // closed by the client, unused, before its retry
      await client.ready();
      expect(calls).toBe(2);
      expect(proxy.connections()).toBe(2); // one per attempt
    } finally {
      await client.close();
      await proxy.close();
    }
  });
});
