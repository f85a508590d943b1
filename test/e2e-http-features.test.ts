/**
 * HTTP over the session, end to end: a real relay on port 0, a daemon served by `listen()`,
 * `connect()` clients, all over real sockets. Load and memory: e2e-http-load / e2e-http-memory.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import { hc } from 'hono/client';
import { streamSSE } from 'hono/streaming';
import { decodeCodeReason, encodeInner, encodePacked } from '../protocol/stream/inner-frame.js';
import { decodeResponseHead, encodeOpen } from '../protocol/stream/heads.js';
import { InnerKind, StreamCode } from '../protocol/stream/stream-codes.js';
import type { StreamError } from '../protocol/stream/stream-error.js';
import type { Channel } from '../web/channel.js';
import { checkNoLeakedHandles } from './helpers/leak-check.js';
import { startHttpFixture, type HttpFixture } from './helpers/http-fixture.js';
import { openRawSession } from './helpers/raw-session.js';
import { waitFor } from './helpers/wait.js';

/** A promise with its resolver outside (Promise.withResolvers is Node 22+). */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** What handlers saw, for assertions on the daemon side. */
const seen = {
  /** The wait-abort handler is running: the request reached the daemon. */
  entered: deferred<void>(),
  aborted: deferred<unknown>(),
  bodyCancelled: deferred<true>(),
};

const app = new Hono()
  .get('/api/hello', (c) => c.json({ hello: c.req.query('name') ?? 'world' }))
  .post('/api/items', async (c) => c.json({ created: await c.req.json<{ name: string }>() }, 201))
  .get('/api/throw', () => {
    throw new Error('secret stack detail');
  })
  .get('/api/sse', (c) =>
    streamSSE(c, async (stream) => {
      for (const token of ['The', ' quick', ' brown', ' fox', ' jumps']) {
        await stream.writeSSE({ event: 'token', data: token });
        await stream.sleep(60);
      }
    }),
  )
  .onError((_error, c) => c.json({ error: { code: 'handler_error' } }, 500));

/** The daemon's handler: the Hono app plus raw WHATWG routes for failure cases. */
async function handler(request: Request): Promise<Response> {
  const url = new URL(request.url);
  switch (url.pathname) {
    case '/raw/throw':
      throw new Error('raw handler bug');
    case '/raw/never':
      return new Promise<Response>(() => {});
    case '/raw/wait-abort':
      return new Promise<Response>((_, reject) => {
        const onAbort = (): void => {
          seen.aborted.resolve(request.signal.reason);
          reject(request.signal.reason);
        };
        if (request.signal.aborted) onAbort();
        else request.signal.addEventListener('abort', onAbort);
        seen.entered.resolve();
      });
    case '/raw/mid-body-failure': {
      let sent = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent++ < 4) controller.enqueue(new Uint8Array(16 * 1024).fill(1));
            else controller.error(new Error('disk on fire'));
          },
        }),
      );
    }
    case '/raw/endless':
      return new Response(
        new ReadableStream<Uint8Array>({
          pull: (controller) => controller.enqueue(new Uint8Array(32 * 1024)),
          cancel: () => seen.bodyCancelled.resolve(true),
        }),
      );
    default:
      return app.fetch(request);
  }
}

const echo = async (channel: Channel) => {
  for await (const message of channel) await channel.send(message);
};

describe('e2e: HTTP and channels over the session', () => {
  checkNoLeakedHandles();
  let h: HttpFixture;

  beforeAll(async () => {
    // Default relay limits: the 10,000-message echo also exercises the client rate limit
    // (5000 messages/s, burst 10,000), which pauses reading rather than dropping.
    h = await startHttpFixture({ fetch: handler, onChannel: { '/echo': echo }, handlerTimeoutMs: 300 });
  });
  afterAll(async () => {
    await h.close();
  });

  it('serves a real Hono app through the Node client, including its typed client hc', async () => {
    const client = h.client();
    const res = await client.fetch('/api/hello?name=sideband');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(await res.json()).toEqual({ hello: 'sideband' });

    const api = hc<typeof app>('http://daemon.invalid', { fetch: client.fetch });
    const typed = await api.api.hello.$get({ query: { name: 'hc' } });
    expect(await typed.json()).toEqual({ hello: 'hc' });
    const created = await api.api.items.$post({ json: { name: 'widget' } });
    expect(created.status).toBe(201);
    expect(await created.json()).toEqual({ created: { name: 'widget' } });
    expect(await client.ping()).toBeGreaterThanOrEqual(0);
  });

  it('a throwing handler gives 500 without its stack, a silent one 504; the session lives on', async () => {
    const client = h.client();
    const errors: unknown[] = [];
    const off = h.server.on('handler_error', ({ error }) => errors.push(error));
    const hono = await client.fetch('/api/throw');
    expect(hono.status).toBe(500);
    expect(await hono.text()).not.toContain('secret stack detail');
    const raw = await client.fetch('/raw/throw');
    expect(raw.status).toBe(500);
    const body = await raw.text();
    expect(JSON.parse(body)).toMatchObject({ error: { code: 'handler_error' } });
    expect(body).not.toContain('raw handler bug');
    expect(errors).toHaveLength(1); // reported on the daemon, never sent to the client
    const started = Date.now();
    const never = await client.fetch('/raw/never');
    expect(never.status).toBe(504);
    expect(await never.json()).toMatchObject({ error: { code: 'handler_timeout' } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect((await client.fetch('/api/hello')).status).toBe(200);
    off();
  });

  it('a body that fails mid-way errors the client body; it never ends as if complete', async () => {
    const client = h.client();
    const res = await client.fetch('/raw/mid-body-failure');
    expect(res.status).toBe(200);
    let received = 0;
    const error = await (async () => {
      for await (const chunk of res.body!) received += chunk.length;
    })().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'internal' });
    expect(received).toBeLessThanOrEqual(4 * 16 * 1024);
    expect((await client.fetch('/api/hello')).status).toBe(200);
  });

  it('cancellation crosses both ways: client abort → handler signal; client body cancel → handler stream cancel', async () => {
    const client = h.client();
    const controller = new AbortController();
    const pending = client.fetch('/raw/wait-abort', { signal: controller.signal });
    // Abort once the handler runs (an event, not a clock: on a loaded machine a timer could fire
    // before the new client even has a session, and the handler would never see the request).
    await seen.entered.promise;
    controller.abort(new Error('user left'));
    await expect(pending).rejects.toThrow('user left');
    expect(await seen.aborted.promise).toMatchObject({ code: 'cancel', remote: true });

    const res = await client.fetch('/raw/endless');
    const reader = res.body!.getReader();
    await reader.read();
    await reader.read();
    await reader.cancel('enough');
    expect(await seen.bodyCancelled.promise).toBe(true);
    expect((await client.fetch('/api/hello')).status).toBe(200);
  });

  it('streams Server-Sent Events token by token', async () => {
    const client = h.client();
    const res = await client.fetch('/api/sse');
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const arrivals: { at: number; text: string }[] = [];
    const decoder = new TextDecoder();
    for await (const chunk of res.body!) arrivals.push({ at: Date.now(), text: decoder.decode(chunk) });
    const tokens = arrivals.filter((a) => a.text.includes('event: token'));
    expect(tokens.map((a) => a.text.match(/data: (.*)\n/)![1])).toEqual(['The', ' quick', ' brown', ' fox', ' jumps']);
    // Each token arrived on its own read, about 60 ms after the previous one: nothing was
    // buffered up. (The median, so one event-loop stall on a busy machine cannot fail it.)
    const gaps = tokens.slice(1).map((a, i) => a.at - tokens[i]!.at).sort((x, y) => x - y);
    expect(gaps[Math.floor(gaps.length / 2)]).toBeGreaterThanOrEqual(30);
    expect(tokens.at(-1)!.at - tokens[0]!.at).toBeGreaterThanOrEqual(4 * 45);
  });

  it('a channel echoes 10,000 messages in order', async () => {
    const client = h.client();
    const channel = await client.channel('/echo');
    const count = 10_000;
    const received: string[] = [];
    const done = new Promise<void>((resolve) =>
      channel.on('message', (m) => {
        received.push(m as string);
        if (received.length === count) resolve();
      }),
    );
    for (let i = 0; i < count; i++) await channel.send(`message ${i}`);
    await done;
    expect(received).toEqual(Array.from({ length: count }, (_, i) => `message ${i}`));
    channel.close();
    expect(await channel.closed).toBeUndefined();
    await expect(client.channel('/nope')).rejects.toMatchObject({ code: 'channel_refused', status: 404 });
  });

  it('events reach two clients at once', async () => {
    const a = h.client();
    const b = h.client();
    await Promise.all([a.ready(), b.ready()]);
    await waitFor(() => h.server.status.sessions >= 2, 'two sessions at the daemon');
    const got = { a: [] as unknown[], b: [] as unknown[] };
    a.on('event', (e) => got.a.push(e));
    b.on('event', (e) => got.b.push(e));
    // Each client's multiplexer must have the daemon's HELLO before its events count: ping first.
    await Promise.all([a.ping(), b.ping()]);
    expect(h.server.publish('build', { ok: true, n: 1 })).toBeGreaterThanOrEqual(2);
    await waitFor(() => got.a.length && got.b.length, 'the event at both clients');
    expect(got.a).toEqual([{ name: 'build', data: { ok: true, n: 1 } }]);
    expect(got.b).toEqual([{ name: 'build', data: { ok: true, n: 1 } }]);
    expect(() => h.server.publish('bad name', 1)).toThrow(expect.objectContaining({ code: 'protocol' }));
    expect(() => h.server.publish('big', 'x'.repeat(40_000))).toThrow(expect.objectContaining({ code: 'message_too_large' }));
  });

  it('answers malformed inner frames with RESET or ERROR, without crashing, and keeps serving other sessions', async () => {
    const bystander = h.client();
    expect((await bystander.fetch('/api/hello')).status).toBe(200);

    const raw = await openRawSession(h.fx, h.reg);
    const { frames } = raw;

    // 1. An OPEN whose head breaks the rules (a path with a space): that stream only, RESET protocol.
    raw.send(encodeInner(InnerKind.OPEN, 1, encodePacked({ kind: 'http', method: 'GET', path: '/a b', headers: [] })));
    // 2. Invalid MessagePack in an OPEN: RESET protocol again.
    raw.send(encodeInner(InnerKind.OPEN, 3, Uint8Array.of(0xc1, 0xff)));
    // 3. An unknown frame kind is ignored, and a valid request still works afterwards.
    raw.send(encodeInner(0x7e, 0, Uint8Array.of(1, 2, 3)));
    raw.send(encodeInner(InnerKind.OPEN, 5, encodeOpen({ kind: 'http', method: 'GET', path: '/api/hello?name=raw', headers: [] })));
    raw.send(encodeInner(InnerKind.END, 5));
    await waitFor(() => frames.some((f) => f.kind === InnerKind.END && f.streamId === 5), 'the valid request answered');
    const resets = frames.filter((f) => f.kind === InnerKind.RESET);
    expect(resets.map((f) => [f.streamId, decodeCodeReason(f.body).code])).toEqual([
      [1, StreamCode.protocol],
      [3, StreamCode.protocol],
    ]);
    const head = frames.find((f) => f.kind === InnerKind.HEAD && f.streamId === 5)!;
    expect(decodeResponseHead(head.body).status).toBe(200);

    // 4. A frame shorter than its header: the inner session is over (ERROR protocol), then the SBRP session.
    raw.send(Uint8Array.of(InnerKind.DATA, 0, 0));
    await waitFor(() => frames.some((f) => f.kind === InnerKind.ERROR), 'ERROR from the daemon');
    const error = frames.find((f) => f.kind === InnerKind.ERROR)!;
    expect(decodeCodeReason(error.body).code).toBe(StreamCode.protocol);
    await waitFor(() => raw.closed, 'the daemon ended the session');

    // The daemon did not crash: the other session and new ones carry on.
    expect((await bystander.fetch('/api/hello?name=after')).status).toBe(200);
    expect(await (await h.client().fetch('/api/hello?name=new')).json()).toEqual({ hello: 'new' });
    await raw.close();
  });

  it('a session dropped mid-body makes the reader error (the daemon shuts down under it)', async () => {
    // A second daemon of its own, so closing it leaves the shared one alone.
    const local = await startHttpFixture({ fetch: handler });
    try {
      const client = local.client();
      const res = await client.fetch('/raw/endless');
      const reader = res.body!.getReader();
      await reader.read();
      const failure = (async () => {
        for (;;) {
          const { done } = await reader.read();
          if (done) return 'ended as if complete';
        }
      })().catch((e: StreamError) => e);
      await local.server.close();
      const error = await failure;
      expect(error).toMatchObject({ code: 'session_closed' });
      await expect(client.fetch('/api/hello', { signal: AbortSignal.timeout(200) })).rejects.toBeDefined();
    } finally {
      await local.close();
    }
  });
});
