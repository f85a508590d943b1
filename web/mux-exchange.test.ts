/**
 * muxExchange (the lane's whole-body call) against the real daemon bridge (serveStream) over
 * two in-memory multiplexers. Through a real browser and relay: test/browser/chromium-lane.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Mux } from '../protocol/stream/mux.js';
import { decodeInner } from '../protocol/stream/inner-frame.js';
import { InnerKind } from '../protocol/stream/stream-codes.js';
import { serveStream, type FetchHandler } from '../daemon/serve-stream.js';
import { muxExchange } from './mux-exchange.js';

const live: Mux[] = [];
afterEach(() => {
  for (const m of live.splice(0)) m.close();
});

function connect(handler: FetchHandler) {
  const ends: { d?: Mux } = {};
  const toDaemon: number[] = [];
  const c = new Mux({
    role: 'client',
    send: (f) => {
      toDaemon.push(decodeInner(f).kind);
      setImmediate(() => ends.d!.receive(f));
    },
  });
  const d = new Mux({ role: 'daemon', send: (f) => setImmediate(() => c.receive(f)), onStream: (stream) => void serveStream(stream, handler) });
  ends.d = d;
  live.push(c, d);
  c.start();
  d.start();
  return { c, d, toDaemon };
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const LIMIT = { maxBodyBytes: 1024 * 1024 };

describe('muxExchange: one request, its whole answer', () => {
  it('sends method, normalised path, query and headers; a GET is one OPEN with its end', async () => {
    const { c, toDaemon } = connect((request) => {
      const url = new URL(request.url);
      return Response.json({ method: request.method, path: url.pathname + url.search, accept: request.headers.get('accept') }, { headers: { 'x-one': '1' } });
    });
    const answer = await muxExchange(c, { method: 'get', path: '/a/../api/x?q=1 2', headers: [['Accept', 'application/json'], ['Connection', 'close']] }, LIMIT);
    expect(answer.status).toBe(200);
    expect(JSON.parse(text(answer.body))).toEqual({ method: 'GET', path: '/api/x?q=1%202', accept: 'application/json' });
    expect(answer.headers).toContainEqual(['x-one', '1']);
    expect(answer.body.byteOffset).toBe(0);
    expect(answer.body.byteLength).toBe(answer.body.buffer.byteLength); // a buffer of its own: transferable
    expect(toDaemon.filter((k) => k !== InnerKind.HELLO)).toEqual([InnerKind.OPEN]);
  });

  it('carries a request body both ways, larger than a frame, and keeps repeated headers in order', async () => {
    const { c } = connect(async (request) => {
      const headers = new Headers();
      headers.append('set-cookie', 'a=1');
      headers.append('set-cookie', 'b=2');
      return new Response(await request.arrayBuffer(), { headers });
    });
    const body = new Uint8Array(300_000).map((_, i) => i % 251);
    const answer = await muxExchange(c, { method: 'POST', path: '/echo', body }, LIMIT);
    expect(Buffer.compare(answer.body, body)).toBe(0);
    expect(answer.headers.filter(([name]) => name === 'set-cookie')).toEqual([['set-cookie', 'a=1'], ['set-cookie', 'b=2']]);
  });

  it('fails an answer over maxBodyBytes with response_too_large and cancels the stream', async () => {
    let cancelled!: () => void;
    const cancel = new Promise<void>((resolve) => (cancelled = resolve));
    const { c, d } = connect(() => new Response(new ReadableStream({
      pull: (controller) => controller.enqueue(new Uint8Array(64 * 1024)),
      cancel: () => cancelled(),
    })));
    await expect(muxExchange(c, { method: 'GET', path: '/big' }, { maxBodyBytes: 100_000 })).rejects.toMatchObject({ code: 'response_too_large' });
    await cancel; // the daemon's body stream learnt of it: nothing keeps producing
    expect(c.streamCount).toBe(0);
    expect(d.closed).toBe(false);
  });

  it('gives a HEAD answer and null-body statuses no body', async () => {
    const { c } = connect((request) => new Response(request.method === 'HEAD' ? 'ignored' : null, { status: request.method === 'HEAD' ? 200 : 204 }));
    expect((await muxExchange(c, { method: 'HEAD', path: '/' }, LIMIT)).body.length).toBe(0);
    const empty = await muxExchange(c, { method: 'DELETE', path: '/' }, LIMIT);
    expect([empty.status, empty.body.length]).toEqual([204, 0]);
  });

  it('refuses what fetch refuses, before opening a stream', async () => {
    const { c } = connect(() => new Response('x'));
    await expect(muxExchange(c, { method: 'GET', path: '/', body: new Uint8Array(1) }, LIMIT)).rejects.toThrow(TypeError);
    await expect(muxExchange(c, { method: 'GE T', path: '/' }, LIMIT)).rejects.toThrow(TypeError);
    await expect(muxExchange(c, { method: 'GET', path: 'http://elsewhere/' }, LIMIT)).rejects.toThrow(TypeError);
    expect(c.streamCount).toBe(0);
  });

  it('an aborted signal resets the stream and rejects with its reason', async () => {
    let reached!: () => void;
    const inHandler = new Promise<void>((resolve) => (reached = resolve));
    const { c } = connect((request) => {
      reached();
      return new Promise<Response>((_, reject) => request.signal.addEventListener('abort', () => reject(new Error('aborted'))));
    });
    const abort = new AbortController();
    const pending = muxExchange(c, { method: 'GET', path: '/slow' }, { ...LIMIT, signal: abort.signal });
    await inHandler;
    abort.abort(new Error('page went away'));
    await expect(pending).rejects.toThrow('page went away');
  });
});
