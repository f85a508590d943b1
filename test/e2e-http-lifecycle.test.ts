/**
 * Lifecycles around HTTP over the session: the Node client waiting for, losing and replacing
 * sessions (one multiplexer per session), and the daemon's graceful shutdown.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listen } from '../daemon/listen.js';
import type { Listener, ListenOptions } from '../daemon/listen-types.js';
import { connect, type ConnectOptions, type SidebandClient } from '../client/connect.js';
import { MemoryPinStore } from '../client/pin-store.js';
import { checkNoLeakedHandles } from './helpers/leak-check.js';
import { FAST_RECONNECT, startRelayFixture, type RegisteredTestDaemon, type RelayFixture } from './helpers/relay-fixture.js';
import { startTamperProxy } from './helpers/tamper-proxy.js';
import { openRawSession } from './helpers/raw-session.js';
import { encodeInner } from '../protocol/stream/inner-frame.js';
import { InnerKind } from '../protocol/stream/stream-codes.js';
import { lifecycleHandler as handler } from './helpers/http-fixture.js';
import { expectCutDownloadIntactOrClosed } from './helpers/cut-download.js';
import { waitFor } from './helpers/wait.js';

describe('e2e: sessions come and go under HTTP', () => {
  checkNoLeakedHandles();
  let fx: RelayFixture;
  let reg: RegisteredTestDaemon;
  const servers: Listener[] = [];
  const clients: SidebandClient[] = [];

  const serve = async (wsUrl?: string, extra: Partial<ListenOptions> = {}): Promise<Listener> => {
    const server = await listen({ relay: fx.relay.url, wsUrl, apiKey: reg.apiKey, identity: reg.identity, fetch: handler, reconnect: FAST_RECONNECT, handlerTimeoutMs: 5_000, ...extra });
    servers.push(server);
    return server;
  };
  const client = (options: Partial<ConnectOptions> = {}): SidebandClient => {
    const c = connect({ relay: fx.relay.url, daemonId: reg.daemonId, getToken: fx.tokens(reg), pinStore: new MemoryPinStore(), reconnect: FAST_RECONNECT, ...options });
    clients.push(c);
    return c;
  };

  beforeEach(async () => {
    fx = await startRelayFixture();
    reg = await fx.registerDaemon();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(servers.splice(0).map((s) => s.close()));
    await fx.close();
  });

  it('a fetch made before any session waits for one; with none in time it fails with not_connected', async () => {
    const early = client();
    const pending = early.fetch('/first');
    await new Promise((resolve) => setTimeout(resolve, 200)); // the daemon is not even online
    await serve();
    expect(await (await pending).json()).toEqual({ ok: true, path: '/first' });

    const offline = await fx.registerDaemon(); // registered, never online: daemon_offline, retried
    const lonely = connect({ relay: fx.relay.url, daemonId: offline.daemonId, getToken: fx.tokens(offline), pinStore: new MemoryPinStore(), reconnect: FAST_RECONNECT, sessionWaitMs: 300 });
    clients.push(lonely);
    await expect(lonely.fetch('/x')).rejects.toMatchObject({ name: 'ConnectionError', code: 'not_connected' });
  });

  it('bounds the calls waiting for a session (refused past maxWaiting)', async () => {
    const c = client({ maxWaiting: 3, sessionWaitMs: 2_000 });
    const waiting = [c.fetch('/a'), c.fetch('/b'), c.fetch('/c')];
    await expect(c.fetch('/d')).rejects.toMatchObject({ code: 'refused' });
    await serve();
    expect((await Promise.all(waiting)).map((r) => r.status)).toEqual([200, 200, 200]);
  });

  it('a session that ends fails what ran on it; the next request runs on the new session', async () => {
    const first = await serve();
    const c = client();
    const opened: bigint[] = [];
    c.on('open', ({ sessionId }) => opened.push(sessionId));
    expect((await c.fetch('/one')).status).toBe(200);
    const inFlight = c.fetch('/forever').catch((e: unknown) => e);
    await waitFor(() => first.status.streams === 1, 'the request at the daemon');
    await first.close();
    expect(await inFlight).toMatchObject({ code: 'session_closed' });

    await serve(); // the same daemon comes back as a new process would
    const res = await c.fetch('/two');
    expect(await res.json()).toEqual({ ok: true, path: '/two' });
    expect(opened.length).toBe(2);
    expect(opened[0]).not.toBe(opened[1]);
  });

  it("the daemon's relay connection cut mid-download: frames lost in the dead socket end the session loudly (never a hang or a short body); the client carries on", async () => {
    const proxy = await startTamperProxy(fx.relay.wsUrl); // only the daemon goes through it
    try {
      const server = await serve(proxy.wsUrl);
      const c = client();
      const states: string[] = [];
      server.on('state', ({ state }) => states.push(`daemon ${state}`));
      c.on('state', ({ state }) => states.push(`client ${state}`));
      const size = 40 * 1024 * 1024;
      const res = await c.fetch(`/bytes?size=${size}`);
      // With a body streaming at full speed, loss (session_closed) is the usual outcome.
      await expectCutDownloadIntactOrClosed(res, size, 3, 4 * 1024 * 1024, () => proxy.dropAll());
      expect(states).toContain('daemon reconnecting');
      const after = await c.fetch('/after'); // and the client carries on with a new session
      expect(await after.json()).toEqual({ ok: true, path: '/after' });
    } finally {
      await Promise.all(servers.splice(0).map((s) => s.close()));
      await proxy.close();
    }
  });

  it('graceful shutdown: GOAWAY refuses new streams, lets open ones finish, then closes', async () => {
    const server = await serve();
    const c = client();
    await c.ready();
    const slow = c.fetch('/slow?ms=400');
    await waitFor(() => server.status.streams === 1, 'the slow request at the daemon');
    const stopping = server.shutdown({ timeoutMs: 5_000 });
    expect(server.status.shuttingDown).toBe(true);
    await waitFor(async () => {
      const refused = await c.fetch('/new').then(
        () => undefined,
        (e: { code?: string }) => e.code,
      );
      return refused === 'going_away' ? refused : undefined;
    }, 'GOAWAY at the client');
    const res = await slow;
    expect(await res.text()).toBe('slow done');
    await stopping;
    expect(server.status.state).toBe('closed');
    expect(server.shutdown()).toBe(stopping); // idempotent
  });

  it('a session flooding small frames past its inbound bound is closed (overflow); the others carry on', async () => {
    // The default bound (4,096 messages, 4 MiB) is above what one socket read can carry; a
    // tiny one shows the bound is wired and enforced.
    const server = await serve(undefined, { inbox: { maxMessages: 16, maxBytes: 1024 * 1024 } });
    const bystander = client();
    expect((await bystander.fetch('/ok')).status).toBe(200);
    const closed: string[] = [];
    server.on('session_closed', ({ reason }) => closed.push(reason));
    const raw = await openRawSession(fx, reg);
    // 500 PINGs in one go: one socket read holds far more than 16 of them.
    for (let i = 0; i < 500; i++) raw.send(encodeInner(InnerKind.PING, 0, new Uint8Array(8)));
    await waitFor(() => raw.closed, 'the flooding session closed');
    expect(closed).toContain('overflow');
    expect((await bystander.fetch('/still')).status).toBe(200);
    await raw.close();
  });

  it('client.close() fails what is in flight, and later calls with closed', async () => {
    await serve();
    const c = client();
    const inFlight = c.fetch('/forever').catch((e: unknown) => e);
    await c.ready();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await Promise.all([c.close(), c.close()]);
    expect(await inFlight).toMatchObject({ code: 'session_closed' });
    await expect(c.fetch('/x')).rejects.toMatchObject({ code: 'closed' });
    await expect(c.channel('/x')).rejects.toMatchObject({ code: 'closed' });
  });
});
