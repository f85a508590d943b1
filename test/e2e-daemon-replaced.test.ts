/**
 * Two daemon processes with one identity: the relay keeps the newer connection and closes the
 * older one with 4002. The older one must say so (`daemon_replaced`) and wait the longest
 * backoff, not take the connection straight back and fight forever with `connection_lost`.
 */
import { afterAll, expect, it } from 'vitest';
import { listen } from '../daemon/listen.js';
import type { Listener } from '../daemon/listen-types.js';
import { errorCode } from '../web/errors.js';
import { startRelayFixture, type RelayFixture } from './helpers/relay-fixture.js';

let fx: RelayFixture;
const daemons: Listener[] = [];
afterAll(async () => {
  for (const d of daemons) await d.close();
  await fx?.close();
});

it('the replaced daemon reports daemon_replaced and backs off for the longest delay', async () => {
  fx = await startRelayFixture();
  const reg = await fx.registerDaemon();
  const options = { relay: fx.relay.url, apiKey: reg.apiKey, identity: reg.identity, fetch: () => new Response('ok'), reconnect: { minDelayMs: 20, maxDelayMs: 60_000, jitter: 'none' as const } };
  const first = await listen(options);
  daemons.push(first);
  const replaced = new Promise<{ error?: Error }>((resolve) => first.on('state', (event) => event.state === 'reconnecting' && resolve(event)));
  const second = await listen(options);
  daemons.push(second);
  const event = await replaced;
  expect(errorCode(event.error)).toBe('daemon_replaced');
  // The first one now waits 60 s (maxDelayMs): the second keeps the connection meanwhile.
  expect(second.status.state).toBe('connected');
});
