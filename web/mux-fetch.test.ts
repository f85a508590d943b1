/**
 * The fetch bridges (client muxFetch ↔ daemon serveStream) over two in-memory multiplexers.
 * Through a real relay: test/e2e-http*.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { hc } from 'hono/client';
import { Mux } from '../protocol/stream/mux.js';
import { muxFetch } from './mux-fetch.js';
import { serveStream, type FetchHandler } from '../daemon/serve-stream.js';

const live: Mux[] = [];
afterEach(() => {
  for (const m of live.splice(0)) m.close();
});

function connect(handler: FetchHandler, options: Parameters<typeof serveStream>[2] = {}) {
  const ends: { d?: Mux } = {};
  const c = new Mux({ role: 'client', send: (f) => setImmediate(() => ends.d!.receive(f)) });
  const d = new Mux({
    role: 'daemon',
    send: (f) => setImmediate(() => c.receive(f)),
    onStream: (stream) => void serveStream(stream, handler, options),
  });
  ends.d = d;
  live.push(c, d);
  c.start();
  d.start();
  return { c, d, fetch: (input: string | URL | Request, init?: RequestInit) => muxFetch(c, input, init) };
}

const app = new Hono()
  .get('/api/hello', (c) => c.json({ hello: c.req.query('name') ?? 'world' }))
  .post('/api/echo', async (c) => new Response(await c.req.arrayBuffer(), { headers: { 'x-len': c.req.header('content-length') ?? '?' } }))
  .get('/api/cookies', () => {
    const h = new Headers();
    h.append('set-cookie', 'a=1');
    h.append('set-cookie', 'b=2');
    return new Response('ok', { headers: h });
  })
  .get('/api/throw', () => {
    throw new Error('secret stack detail');
  })
  .onError((_error, c) => c.text('Internal Server Error', 500))
  .get('/api/sse', (c) =>
    streamSSE(c, async (stream) => {
      for (const token of ['The', ' quick', ' fox']) {
        await stream.writeSSE({ data: token, event: 'token' });
        await stream.sleep(5);
      }
    }),
  );

describe('fetch over the inner stream protocol', () => {
  it('serves a Hono app, including its typed client hc', async () => {
    const { fetch } = connect(app.fetch);
    const res = await fetch('/api/hello?name=sideband');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ hello: 'sideband' });
    const client = hc<typeof app>('http://sideband.invalid', { fetch: (input: string | URL | Request, init?: RequestInit) => fetch(input, init) });
    const typed = await client.api.hello.$get({ query: { name: 'hc' } });
    expect(await typed.json()).toEqual({ hello: 'hc' });
  });

  it('streams an upload and echoes it back byte for byte', async () => {
    const { fetch } = connect(app.fetch);
    const body = new Uint8Array(300_000).map((_, i) => i % 251);
    const res = await fetch('/api/echo', { method: 'POST', body });
    const got = new Uint8Array(await res.arrayBuffer());
    expect(got.length).toBe(body.length);
    expect(Buffer.compare(got, body)).toBe(0);
  });

  it('keeps repeated Set-Cookie headers', async () => {
    const { fetch } = connect(app.fetch);
    const res = await fetch('/api/cookies');
    expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
  });

  it('turns a throwing handler into a 500 without the stack, and the session lives on', async () => {
    const errors: unknown[] = [];
    const { fetch } = connect(app.fetch, { onError: (e) => errors.push(e) });
    const res = await fetch('/api/throw');
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain('secret stack detail');
    expect((await fetch('/api/hello')).status).toBe(200);
    expect(errors).toHaveLength(0); // Hono catches it itself and answers its own 500
  });

  it('answers 500 when the handler itself throws, 504 when it never answers', async () => {
    const { fetch } = connect(
      (req) => {
        if (req.url.endsWith('/never')) return new Promise<Response>(() => {});
        throw new Error('boom');
      },
      { handlerTimeoutMs: 50 },
    );
    const thrown = await fetch('/x');
    expect(thrown.status).toBe(500);
    expect(await thrown.json()).toMatchObject({ error: { code: 'handler_error' } });
    const never = await fetch('/never');
    expect(never.status).toBe(504);
    expect(await never.json()).toMatchObject({ error: { code: 'handler_timeout' } });
  });

  it('a response head over the client maxHeadBytes fails the request with head_too_large', async () => {
    const ends: { d?: Mux } = {};
    const c = new Mux({ role: 'client', send: (f) => setImmediate(() => ends.d!.receive(f)), limits: { maxHeadBytes: 1024 } });
    const d = new Mux({
      role: 'daemon',
      send: (f) => setImmediate(() => c.receive(f)),
      onStream: (stream) => void serveStream(stream, () => new Response('ok', { headers: { 'x-big': 'b'.repeat(2000) } })),
    });
    ends.d = d;
    live.push(c, d);
    c.start();
    d.start();
    await expect(muxFetch(c, '/big-head')).rejects.toMatchObject({ code: 'head_too_large', remote: true });
    expect(d.closed).toBe(false);
  });

  it('makes the reader error when the handler body fails mid-way', async () => {
    const { fetch } = connect(() => {
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent++ < 3) controller.enqueue(new Uint8Array(1000));
          else controller.error(new Error('disk on fire'));
        },
      });
      return new Response(body);
    });
    const res = await fetch('/partial');
    await expect(res.arrayBuffer()).rejects.toMatchObject({ code: 'internal' });
  });

  it('streams Server-Sent Events token by token', async () => {
    const { fetch } = connect(app.fetch);
    const res = await fetch('/api/sse');
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    const arrivals: string[] = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      arrivals.push(new TextDecoder().decode(value));
    }
    expect(arrivals.length).toBeGreaterThanOrEqual(3);
    expect(arrivals.join('')).toContain('data: The\n');
    expect(arrivals.join('')).toContain('data:  fox\n');
  });

  it('aborting the client request aborts the handler signal', async () => {
    let abortedWith: unknown;
    const seen = new Promise<unknown>((resolve) => {
      const { fetch } = connect(
        (req) =>
          new Promise<Response>(() => {
            req.signal.addEventListener('abort', () => resolve(req.signal.reason));
          }),
      );
      const controller = new AbortController();
      const pending = fetch('/wait', { signal: controller.signal });
      setTimeout(() => controller.abort(), 20);
      pending.catch((e) => (abortedWith = e));
    });
    const reason = await seen;
    expect(reason).toMatchObject({ code: 'cancel', remote: true });
    await new Promise((r) => setTimeout(r, 5));
    expect(abortedWith).toBeDefined();
  });
});
