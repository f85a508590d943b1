/**
 * Idempotency-Key deduplication end to end: a real relay on port 0, a daemon served by
 * `listen()`, Node clients, real sockets. Stands in for the service worker that replays a
 * re-dispatched POST (../shared/service-worker.md, "worker dies with fetch events pending")
 * from a new worker instance, i.e. on a new session, with the same key.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from '../daemon/listen.js';
import type { FetchHandler } from '../daemon/serve-stream.js';
import { checkNoLeakedHandles } from './helpers/leak-check.js';
import { startHttpFixture, type HttpFixture } from './helpers/http-fixture.js';
import { waitFor } from './helpers/wait.js';

/** A promise with its resolver outside (Promise.withResolvers is Node 22+). */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

interface Run {
  method: string;
  key: string | null;
  redelivery: string | null;
  body: string;
}

/** A handler that records every run, so tests count how often a key really executed. */
function recordingHandler(): { runs: Run[]; handler: FetchHandler; runsOf: (key: string) => Run[]; slow: { started: Promise<void>; release: () => void } } {
  const runs: Run[] = [];
  const started = deferred();
  const gate = deferred();
  const handler: FetchHandler = async (request) => {
    const body = request.method === 'GET' || request.method === 'HEAD' ? '' : await request.text();
    const run: Run = { method: request.method, key: request.headers.get('idempotency-key'), redelivery: request.headers.get('sideband-redelivery'), body };
    runs.push(run);
    if (new URL(request.url).pathname === '/api/slow') {
      started.resolve();
      await gate.promise;
    }
    return Response.json({ ran: run }, { status: request.method === 'GET' ? 200 : 201 });
  };
  return { runs, handler, runsOf: (key) => runs.filter((r) => r.key === key), slow: { started: started.promise, release: gate.resolve } };
}

const json = { 'content-type': 'application/json' };

describe('e2e: Idempotency-Key deduplication in listen()', () => {
  checkNoLeakedHandles();
  const on = recordingHandler();
  const off = recordingHandler();
  let h: HttpFixture;
  let disabled: HttpFixture;

  beforeAll(async () => {
    // A short handler timeout, so a broken dedup fails the concurrency test fast (504), not by test timeout.
    h = await startHttpFixture({ fetch: on.handler, handlerTimeoutMs: 5_000 });
    disabled = await startHttpFixture({ fetch: off.handler, idempotency: false });
  });
  afterAll(async () => {
    await h?.close();
    await disabled?.close();
  });

  it('runs a keyed POST once; its replay from a new session gets 409 duplicate_request without a run', async () => {
    const key = randomUUID();
    const first = h.client();
    const res = await first.fetch('/api/items', { method: 'POST', headers: { ...json, 'idempotency-key': key }, body: '{"name":"widget"}' });
    expect(res.status).toBe(201);
    // The handler saw the header unchanged, and the body.
    expect(await res.json()).toEqual({ ran: { method: 'POST', key, redelivery: null, body: '{"name":"widget"}' } });
    await first.close(); // the worker instance dies

    // The new instance opens its own session and replays with the same key.
    const second = h.client();
    const replay = await second.fetch('/api/items', { method: 'POST', headers: { ...json, 'idempotency-key': key, 'sideband-redelivery': '1' }, body: '{"name":"widget"}' });
    expect(replay.status).toBe(409);
    expect(replay.headers.get('sideband-duplicate')).toBe('1');
    expect(replay.headers.get('content-type')).toBe('application/json');
    expect(await replay.json()).toEqual({
      error: { code: 'duplicate_request', message: `this request (Idempotency-Key ${key}) was already delivered to the daemon; it was not executed again` },
    });
    // The same session again, too.
    const again = await second.fetch('/api/items', { method: 'POST', headers: { 'idempotency-key': key }, body: 'x' });
    expect(again.status).toBe(409);
    await again.body?.cancel();
    expect(on.runsOf(key)).toHaveLength(1);

    // A fresh key runs, on the same session.
    const fresh = randomUUID();
    expect((await second.fetch('/api/items', { method: 'POST', headers: { 'idempotency-key': fresh }, body: 'y' })).status).toBe(201);
    expect(on.runsOf(fresh)).toHaveLength(1);
  });

  it('two concurrent POSTs with the same key (two sessions) run the handler once', async () => {
    const key = randomUUID();
    const a = h.client();
    const b = h.client();
    await Promise.all([a.ping(), b.ping()]); // both sessions up, so the two requests really overlap
    const init = { method: 'POST', headers: { 'idempotency-key': key }, body: 'payload' };
    const [ra, rb] = [a.fetch('/api/slow', init), b.fetch('/api/slow', init)];
    // The first to arrive is running and held; the other must be refused while it runs.
    await on.slow.started;
    const refused = await Promise.race([ra, rb]);
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ error: { code: 'duplicate_request' } });
    on.slow.release();
    const statuses = (await Promise.all([ra, rb])).map((r) => r.status).sort();
    expect(statuses).toEqual([201, 409]);
    expect(on.runsOf(key)).toHaveLength(1);
    expect(on.runsOf(key)[0]!.body).toBe('payload');
  });

  it('a burst of 20 concurrent POSTs with one key on one session runs once', async () => {
    const key = randomUUID();
    const client = h.client();
    const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => client.fetch('/api/items', { method: 'POST', headers: { 'idempotency-key': key }, body: `copy ${i}` })));
    const statuses = responses.map((r) => r.status);
    await Promise.all(responses.map((r) => r.body?.cancel()));
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
    expect(on.runsOf(key)).toHaveLength(1);
  });

  it('does not deduplicate GET (nor HEAD, OPTIONS) with a key', async () => {
    const key = randomUUID();
    const client = h.client();
    for (let i = 0; i < 2; i++) {
      const res = await client.fetch('/api/items', { headers: { 'idempotency-key': key } });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ ran: { method: 'GET', key } });
    }
    for (const method of ['HEAD', 'OPTIONS']) {
      for (let i = 0; i < 2; i++) {
        const res = await client.fetch('/api/items', { method, headers: { 'idempotency-key': key } });
        expect(res.status).toBe(201);
        await res.body?.cancel();
      }
    }
    expect(on.runsOf(key).map((r) => r.method)).toEqual(['GET', 'GET', 'HEAD', 'HEAD', 'OPTIONS', 'OPTIONS']);
  });

  it('answers a malformed key 400 bad_request without running the handler; the session lives on', async () => {
    const client = h.client();
    const before = on.runs.length;
    // Other control characters never get this far: the stream protocol refuses them in any
    // header value (protocol/stream/heads.ts); the unit tests cover them.
    for (const key of ['', 'k'.repeat(129), 'has space', 'tab\there', 'caf\u00e9']) {
      const res = await client.fetch('/api/items', { method: 'POST', headers: { 'idempotency-key': key }, body: 'x' });
      expect(res.status, JSON.stringify(key)).toBe(400);
      expect(await res.json()).toEqual({ error: { code: 'bad_request', message: 'Idempotency-Key must be 1-128 visible ASCII characters' } });
    }
    // Two Idempotency-Key lines arrive joined ("a, b"): two keys are no key.
    const twoKeys = new Headers();
    twoKeys.append('idempotency-key', 'a');
    twoKeys.append('idempotency-key', 'b');
    const two = await client.fetch('/api/items', { method: 'POST', headers: twoKeys, body: 'x' });
    expect(two.status).toBe(400);
    await two.body?.cancel();
    expect(on.runs.length).toBe(before);
    expect((await client.fetch('/api/items', { method: 'POST', headers: { 'idempotency-key': 'k'.repeat(128) }, body: 'x' })).status).toBe(201);
    expect(on.runs.length).toBe(before + 1);
  });

  it('idempotency: false runs every delivery and passes any key through', async () => {
    const key = randomUUID();
    const client = disabled.client();
    const deliveries: Record<string, string>[] = [{ 'idempotency-key': key }, { 'idempotency-key': key, 'sideband-redelivery': '1' }];
    for (const headers of deliveries) {
      const res = await client.fetch('/api/items', { method: 'POST', headers, body: 'x' });
      expect(res.status).toBe(201);
      expect(res.headers.get('sideband-duplicate')).toBeNull();
      await res.body?.cancel();
    }
    expect(off.runsOf(key).map((r) => r.redelivery)).toEqual([null, '1']);
    const odd = await client.fetch('/api/items', { method: 'POST', headers: { 'idempotency-key': 'has space' }, body: 'x' });
    expect(odd.status).toBe(201);
    await odd.body?.cancel();
    await waitFor(() => off.runsOf('has space').length === 1, 'the malformed key to reach the handler');
  });

  it('rejects an idempotency option that cannot work before connecting', async () => {
    const options = { relay: 'http://127.0.0.1:9', apiKey: 'unused', identity: { seed: new Uint8Array(32).fill(7) }, fetch: on.handler };
    await expect(listen({ ...options, idempotency: { maxKeys: 0 } })).rejects.toMatchObject({ code: 'invalid_config' });
    await expect(listen({ ...options, idempotency: { ttlMs: -1 } })).rejects.toMatchObject({ code: 'invalid_config' });
  });
});
