import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeFrame } from '../protocol/frame-codec.js';
import { FrameType } from '../protocol/codes.js';
import { connectDaemon } from '../daemon/connect-daemon.js';
import type { ConnectDaemonOptions, DaemonConnection } from '../daemon/daemon-types.js';
import { connectClient } from '../client/connect-client.js';
import type { ConnectClientOptions, RelayClient } from '../web/client-types.js';
import { controlPlaneTokens } from '../client/session-token-source.js';
import { MemoryPinStore } from '../client/pin-store.js';
import { ADMIN_KEY, FAST_RECONNECT, startRelayFixture, type RelayFixture, type RegisteredTestDaemon } from './helpers/relay-fixture.js';
import { checkNoLeakedHandles } from './helpers/leak-check.js';
import { startTamperProxy, type TamperProxy } from './helpers/tamper-proxy.js';
import { bytes, collect, nextEvent, text, waitFor } from './helpers/wait.js';

describe('e2e: limits, liveness and retry rules', () => {
  checkNoLeakedHandles();
  let fx: RelayFixture;
  let reg: RegisteredTestDaemon;
  let proxy: TamperProxy;
  const daemons: DaemonConnection[] = [];
  const clients: RelayClient[] = [];
  let presenceFetches = 0;
  const presenceBodies: unknown[] = [];

  /** Counts presence-token requests (one per connection attempt) and keeps their bodies. */
  const countingFetch: typeof fetch = (input, init) => {
    if (String(input instanceof Request ? input.url : input).endsWith('/v1/tokens/presence')) {
      presenceFetches++;
      presenceBodies.push(JSON.parse(String(init?.body)));
    }
    return fetch(input, init);
  };

  const startDaemon = (options: Partial<ConnectDaemonOptions> = {}): DaemonConnection => {
    const daemon = connectDaemon({
      relay: fx.relay.url,
      apiKey: reg.apiKey,
      identity: reg.identity,
      fetch: countingFetch,
      reconnect: FAST_RECONNECT,
      onMessage: (sid, data) => daemon.send(sid, data),
      ...options,
    });
    daemons.push(daemon);
    return daemon;
  };

  const startClient = (options: Partial<ConnectClientOptions> = {}): RelayClient => {
    const client = connectClient({
      relay: fx.relay.url,
      daemonId: reg.daemonId,
      getToken: fx.tokens(reg),
      pinStore: new MemoryPinStore(),
      reconnect: FAST_RECONNECT,
      ...options,
    });
    clients.push(client);
    return client;
  };

  beforeEach(async () => {
    presenceFetches = 0;
    presenceBodies.length = 0;
    fx = await startRelayFixture();
    reg = await fx.registerDaemon();
    proxy = await startTamperProxy(fx.relay.wsUrl);
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(daemons.splice(0).map((d) => d.close()));
    await proxy.close();
    await fx.close();
  });

  it('closes a session whose inbound queue passes its bound with Signal(close, policy); other sessions carry on', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const handled: string[] = [];
    const daemon = startDaemon({
      inbox: { maxMessages: 4, maxBytes: 1024 * 1024 },
      onMessage: async (sid, data) => {
        handled.push(text(data));
        if (text(data).startsWith('slow')) await gate;
        else daemon.send(sid, data);
      },
    });
    await daemon.ready();
    const slow = startClient();
    const fast = startClient();
    await Promise.all([slow.ready(), fast.ready()]);

    const closed = nextEvent(daemon, 'session_closed');
    const slowDisconnected = nextEvent(slow, 'disconnected');
    for (let i = 0; i < 10; i++) slow.send(bytes(`slow${i}`));
    const event = await closed;
    expect(event).toMatchObject({ sessionId: slow.sessionId, reason: 'overflow' });
    // The relay turns Signal(close) into session_expired for the client.
    expect((await slowDisconnected).error).toMatchObject({ code: 'session_expired' });

    const echoes = collect(fast, 'message');
    fast.send(bytes('still here'));
    await waitFor(() => echoes.length === 1, 'echo on the other session');
    expect(text(echoes[0]!.data)).toBe('still here');
    release();
    await new Promise((resolve) => setTimeout(resolve, 50));
    // One message was in the handler; the queued ones were dropped with the session.
    expect(handled.filter((m) => m.startsWith('slow'))).toEqual(['slow0']);
  });

  it('trips the circuit breaker after N protocol errors: drops the connection and reconnects with a new presence token', async () => {
    const daemon = startDaemon({ wsUrl: proxy.wsUrl, circuitBreaker: { maxErrors: 5, windowMs: 10_000 } });
    await daemon.ready();
    expect(presenceFetches).toBe(1);
    const garbage = encodeFrame(0x7f, 0n, new Uint8Array(4)); // invalid_frame_type at the daemon
    const errors = collect(daemon, 'error');
    for (let i = 0; i < 4; i++) [...proxy.connections][0]!.sendToEndpoint(garbage);
    await waitFor(() => errors.length === 4, 'four protocol errors');
    expect(daemon.state).toBe('connected'); // under the threshold

    const reconnecting = nextEvent(daemon, 'state', 5_000, (e) => e.state === 'reconnecting');
    [...proxy.connections][0]!.sendToEndpoint(garbage);
    expect((await reconnecting).error).toMatchObject({ code: 'circuit_open' });
    await nextEvent(daemon, 'state', 5_000, (e) => e.state === 'connected');
    expect(presenceFetches).toBe(2);
    // A fresh process asks for no resume; a reconnect of the same process does.
    expect(presenceBodies).toEqual([{ resume: false }, { resume: true }]);
  });

  it('treats a relay that stops answering Pings as dead, on the daemon and on the client', async () => {
    const liveness = { ...FAST_RECONNECT, daemonPingIntervalMs: 100, pongTimeoutMs: 250 };
    const daemon = startDaemon({ wsUrl: proxy.wsUrl, reconnect: liveness });
    await daemon.ready();
    const client = startClient({ wsUrl: proxy.wsUrl, pingIntervalMs: 100, pongTimeoutMs: 250 });
    await client.ready();
    await new Promise((resolve) => setTimeout(resolve, 400)); // Pongs flow: nothing happens
    expect(daemon.state).toBe('connected');
    expect(client.state).toBe('open');
    expect(daemon.status.rttMs).toBeTypeOf('number');

    proxy.setHook((frame, direction) => (direction === 'toEndpoint' && frame[0] === FrameType.Pong ? null : undefined));
    const daemonDown = nextEvent(daemon, 'state', 5_000, (e) => e.state === 'reconnecting');
    const clientDown = nextEvent(client, 'disconnected', 5_000);
    expect((await daemonDown).error).toMatchObject({ code: 'relay_silent' });
    expect((await clientDown).error).toMatchObject({ code: 'relay_silent' });
    proxy.setHook(undefined);
    await nextEvent(daemon, 'state', 5_000, (e) => e.state === 'connected');
    await client.ready();
  });

  it('times out a handshake that never completes and retries with a new token', async () => {
    const daemon = startDaemon();
    await daemon.ready();
    proxy.setHook((frame, direction) => (direction === 'toEndpoint' && frame[0] === FrameType.HandshakeAccept ? null : undefined));
    const getToken = fx.tokens(reg);
    const client = startClient({ wsUrl: proxy.wsUrl, getToken, handshakeTimeoutMs: 200 });
    const { error, retryInMs } = await nextEvent(client, 'disconnected');
    expect(error).toMatchObject({ code: 'handshake_timeout' });
    expect(retryInMs).toBeTypeOf('number');
    proxy.setHook(undefined);
    await client.ready();
    expect(getToken.calls).toBeGreaterThanOrEqual(2);
  });

  it('retries a refused upgrade (401) with a fresh token, and a daemon_offline until the daemon is back', async () => {
    const real = fx.tokens(reg);
    let calls = 0;
    const client = startClient({
      getToken: async (signal) => (++calls === 1 ? { token: 'not-a-jwt', sid: 'AAALOnPOL_I' } : real(signal)),
    });
    const first = await nextEvent(client, 'disconnected');
    expect(first.error).toMatchObject({ code: 'unauthorized', status: 401 });
    const second = await nextEvent(client, 'disconnected');
    expect(second.error).toMatchObject({ code: 'daemon_offline' });
    startDaemon();
    await client.ready();
    expect(calls).toBeGreaterThanOrEqual(3);
  });

  it('gives up on an unknown daemon (daemon_not_found), without retrying', async () => {
    const client = startClient({
      daemonId: 'no-such-daemon',
      getToken: controlPlaneTokens({ baseUrl: fx.relay.url, bearer: ADMIN_KEY, daemonId: 'no-such-daemon' }),
    });
    const { error } = await nextEvent(client, 'closed');
    expect(error).toMatchObject({ code: 'daemon_not_found' });
    expect(client.state).toBe('closed');
  });

  it('close() is idempotent and releases everything, even mid-connect', async () => {
    const daemon = startDaemon();
    const client = startClient({ pinStore: new MemoryPinStore(), daemonId: reg.daemonId, relay: fx.relay.url });
    const a = client.close();
    const b = client.close();
    expect(a).toBe(b);
    await a;
    expect(client.state).toBe('closed');
    await expect(client.ready()).rejects.toMatchObject({ code: 'closed' });
    await Promise.all([daemon.close(), daemon.close()]);
    expect(daemon.state).toBe('closed');
    expect(() => daemon.send(1n, bytes('x'))).toThrow(expect.objectContaining({ code: 'closed' }));
  });
});

