/**
 * connect() against a real relay and daemon: approving a changed daemon key restarts the same
 * client (no new connect()), and thousands of concurrent requests queue for a stream instead
 * of being refused, up to a documented bound.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityKeyChangedError } from '../protocol/errors.js';
import { StreamError } from '../protocol/stream/stream-error.js';
import { listen } from '../daemon/listen.js';
import type { Listener } from '../daemon/listen-types.js';
import { checkNoLeakedHandles } from '../test/helpers/leak-check.js';
import { FAST_RECONNECT, startRelayFixture, type RegisteredTestDaemon, type RelayFixture } from '../test/helpers/relay-fixture.js';
import { connect, type SidebandClient } from './connect.js';
import { MemoryPinStore } from './pin-store.js';

describe('connect()', () => {
  checkNoLeakedHandles(5_000);
  let fx: RelayFixture;
  let reg: RegisteredTestDaemon;
  let server: Listener;

  beforeAll(async () => {
    fx = await startRelayFixture();
    reg = await fx.registerDaemon();
    server = await listen({
      relay: fx.relay.url,
      apiKey: reg.apiKey,
      identity: reg.identity,
      reconnect: FAST_RECONNECT,
      fetch: async (request) => {
        const url = new URL(request.url);
        const ms = Number(url.searchParams.get('ms') ?? 0);
        if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
        return new Response(url.searchParams.get('i') ?? 'ok');
      },
    });
  });
  afterAll(async () => {
    await server?.close();
    await fx?.close();
  });

  const client = (pinStore = new MemoryPinStore(), extra = {}): SidebandClient =>
    connect({ relay: fx.relay.url, daemonId: reg.daemonId, getToken: fx.tokens(reg), pinStore, reconnect: FAST_RECONNECT, ...extra });

  it('after identity_key_changed, pinStore.approve() and reconnect() bring the same client back', async () => {
    const pins = new MemoryPinStore();
    await pins.approve(reg.daemonId, new Uint8Array(32).fill(7)); // a stale pin
    const c = client(pins);
    const stopped = new Promise<Error | undefined>((resolve) => c.on('closed', ({ error }) => resolve(error)));
    const error = await stopped;
    expect(error).toBeInstanceOf(IdentityKeyChangedError);
    expect(c.state).toBe('closed');
    await expect(c.fetch('/x')).rejects.toMatchObject({ code: 'identity_key_changed' });

    // Reconnecting without approval stops again with the same error.
    const again = new Promise<Error | undefined>((resolve) => c.on('closed', ({ error }) => resolve(error), { signal: AbortSignal.timeout(10_000) }));
    c.reconnect();
    expect(await again).toMatchObject({ code: 'identity_key_changed' });

    const changed = error as IdentityKeyChangedError;
    expect(changed.offeredFingerprint).toBe(server.fingerprint);
    await pins.approve(changed.daemonId, changed.offeredKey);
    c.reconnect();
    await c.ready();
    expect(await (await c.fetch('/x?i=back')).text()).toBe('back');
    await c.close();
    expect(() => c.reconnect()).toThrow(expect.objectContaining({ code: 'closed' }));
  });

  it('2000 concurrent fetches all succeed: beyond the stream limits they wait in line', async () => {
    const c = client();
    await c.ready();
    const bodies = await Promise.all(Array.from({ length: 2000 }, (_, i) => c.fetch(`/x?i=${i}&ms=2`).then((r) => r.text())));
    expect(bodies).toEqual(Array.from({ length: 2000 }, (_, i) => String(i)));
    await c.close();
  }, 60_000);

  it('over maxWaiting a call fails at once with refused; an aborted waiter leaves the line', async () => {
    const c = client(new MemoryPinStore(), { maxWaiting: 2, limits: { maxPendingOpens: 3 } });
    await c.ready();
    const slow = Array.from({ length: 3 }, (_, i) => c.fetch(`/x?i=${i}&ms=300`).then((r) => r.text()));
    const abort = new AbortController();
    const aborted = c.fetch('/x?i=aborted', { signal: abort.signal });
    const waiting = c.fetch('/x?i=3').then((r) => r.text());
    const refused = await c.fetch('/x?i=4').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(StreamError);
    expect(refused).toMatchObject({ code: 'refused', message: expect.stringMatching(/maxWaiting 2/) });
    abort.abort(new Error('changed my mind'));
    await expect(aborted).rejects.toThrow('changed my mind');
    expect(await Promise.all([...slow, waiting])).toEqual(['0', '1', '2', '3']);
    await c.close();
  });
});
