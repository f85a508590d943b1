import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { Mux } from '../protocol/stream/mux.js';
import { openChannel, type Channel } from '../web/channel.js';
import { routeStream } from './route-stream.js';
import { DEMO_LIMITS, demoApp, demoChannels } from './demo-app.js';

const at = (path: string, init?: RequestInit) => new Request(`http://localhost${path}`, init);

/** Every chunk of a body, as it arrived. */
async function chunks(res: Response): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  const reader = res.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return out;
    out.push(value);
  }
}

describe('demo app (the CLI default)', () => {
  const events: { name: string; data: unknown }[] = [];
  const app = demoApp({ tickMs: 5, wordMs: 1, now: () => new Date(0), publish: (name, data) => (events.push({ name, data }), 2) });
  afterEach(() => void events.splice(0));

  it('GET /api/hello', async () => {
    expect(await (await app(at('/api/hello?name=sb'))).json()).toEqual({ hello: 'sb' });
    expect(await (await app(at('/api/hello'))).json()).toEqual({ hello: 'world' });
  });

  it('POST /api/echo streams the body back with its content type', async () => {
    const res = await app(at('/api/echo', { method: 'POST', body: 'ping', headers: { 'content-type': 'text/plain' } }));
    expect(res.headers.get('content-type')).toBe('text/plain');
    expect(await res.text()).toBe('ping');
  });

  it('GET /api/clock streams n SSE ticks and stops when the client goes away', async () => {
    const res = await app(at('/api/clock?n=3'));
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const text = await res.text();
    expect(text.match(/event: tick/g)).toHaveLength(3);
    expect(text).toContain('data: {"n":2,"time":"1970-01-01T00:00:00.000Z"}');

    const controller = new AbortController();
    const endless = await app(at('/api/clock', { signal: controller.signal }));
    const reader = endless.body!.getReader();
    await reader.read();
    controller.abort();
    await reader.cancel();
  });

  it('GET /api/agent streams a text answer one word per chunk, at most 60 words', async () => {
    const res = await app(at('/api/agent?prompt=what%20is%20a%20relay%3F'));
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    const parts = (await chunks(res)).map((c) => new TextDecoder().decode(c));
    const text = parts.join('');
    expect(text.startsWith('You asked: “what is a relay?”. ')).toBe(true);
    expect(text.endsWith('\n')).toBe(true);
    expect(parts.length).toBe(text.trim().split(' ').length);
    expect(parts.length).toBeLessThanOrEqual(DEMO_LIMITS.agentWords);

    const hostile = await (await app(at(`/api/agent?prompt=${encodeURIComponent('x'.repeat(5000) + ' y'.repeat(500))}`))).text();
    expect(hostile.trim().split(' ').length).toBeLessThanOrEqual(DEMO_LIMITS.agentWords);
    expect(hostile.length).toBeLessThan(1000);
    expect(hostile.endsWith('ciphertext.\n')).toBe(true); // the longest prompt still leaves the answer whole
    expect(await (await app(at('/api/agent'))).text()).toMatch(/^Hello\. Each word/);
  });

  it('GET /api/agent paces its words and stops when the client goes away', async () => {
    const slow = demoApp({ wordMs: 40 });
    const controller = new AbortController();
    const started = Date.now();
    const reader = (await slow(at('/api/agent?prompt=hi', { signal: controller.signal }))).body!.getReader();
    await reader.read();
    await reader.read();
    await reader.read();
    expect(Date.now() - started).toBeGreaterThanOrEqual(70);
    controller.abort();
    await reader.cancel();
  });

  it('GET /api/files lists a few entries', async () => {
    const res = await app(at('/api/files'));
    const body = (await res.json()) as { files: { name: string; size: number; modifiedAt: string }[] };
    expect(body.files.length).toBeGreaterThan(2);
    for (const f of body.files) expect(f).toEqual({ name: expect.any(String), size: expect.any(Number), modifiedAt: expect.any(String) });
  });

  it('GET /api/download?mb=N streams N MiB of deterministic bytes in 64 KiB chunks', async () => {
    const res = await app(at('/api/download?mb=2'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(2 * 1024 * 1024));
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    const parts = await chunks(res);
    expect(parts).toHaveLength(32);
    expect(parts.every((c) => c.byteLength === DEMO_LIMITS.downloadChunk)).toBe(true);
    expect(parts.map((c) => Number(new DataView(c.buffer, c.byteOffset).getBigUint64(0)))).toEqual([...Array(32).keys()]);
    const digest = (list: Uint8Array[]) => list.reduce((h, c) => h.update(c), createHash('sha256')).digest('hex');
    expect(digest(await chunks(await app(at('/api/download?mb=2'))))).toBe(digest(parts));
  });

  it('GET /api/download generates only what is read (1 GiB, three chunks, then cancel)', async () => {
    const res = await app(at('/api/download?mb=1024'));
    expect(res.headers.get('content-length')).toBe(String(1024 * 1024 * 1024));
    const reader = res.body!.getReader();
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 3; i++) expect((await reader.read()).value?.byteLength).toBe(DEMO_LIMITS.downloadChunk);
    await new Promise((r) => setTimeout(r, 50)); // a producer ignoring backpressure would run ahead now
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 * 1024 * 1024);
    await reader.cancel();
  });

  it('GET /api/download refuses hostile sizes with a JSON 400', async () => {
    for (const mb of ['-1', 'abc', '1e9', '1e3', '0', '1025', '1.5', '0x10', ' 5', '99999', '']) {
      const res = await app(at(`/api/download?mb=${encodeURIComponent(mb)}`));
      expect(res.status, `mb=${mb}`).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: 'bad_request' } });
    }
    expect((await app(at('/api/download'))).status).toBe(400);
  });

  it('POST /api/upload digests the streamed body and announces it', async () => {
    const body = new Uint8Array(300_000).map((_, i) => i % 251);
    const res = await app(at('/api/upload', { method: 'POST', body }));
    const expected = { bytes: 300_000, sha256: createHash('sha256').update(body).digest('hex') };
    expect(await res.json()).toEqual(expected);
    expect(events).toEqual([{ name: 'upload', data: expected }]);
    const empty = await (await app(at('/api/upload', { method: 'POST' }))).json();
    expect(empty).toEqual({ bytes: 0, sha256: createHash('sha256').digest('hex') });
  });

  it('POST /api/broadcast publishes {text} as a `message` event and refuses bad bodies', async () => {
    const res = await app(at('/api/broadcast', { method: 'POST', body: JSON.stringify({ text: ' hi all ' }) }));
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ delivered: 2 });
    expect(events).toEqual([{ name: 'message', data: { text: 'hi all', at: '1970-01-01T00:00:00.000Z', from: 'web' } }]);

    const post = (body: string) => app(at('/api/broadcast', { method: 'POST', body }));
    expect((await post('not json')).status).toBe(400);
    expect((await post('null')).status).toBe(400);
    expect((await post('{"text":""}')).status).toBe(400);
    expect((await post(JSON.stringify({ text: 'x'.repeat(DEMO_LIMITS.broadcastChars + 1) }))).status).toBe(400);
    const huge = await post(JSON.stringify({ text: 'x'.repeat(100_000) }));
    expect(huge.status).toBe(413);
    expect(await huge.json()).toMatchObject({ error: { code: 'payload_too_large' } });
    expect(events).toHaveLength(1);
  });

  it('anything else is a JSON 404', async () => {
    const res = await app(at('/nope', { method: 'DELETE' }));
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: 'not_found' } });
  });
});

describe('demo channels', () => {
  const live: Mux[] = [];
  afterEach(() => {
    for (const m of live.splice(0)) m.close();
  });

  /** A client multiplexer wired in memory to a daemon one that routes channels to demoChannels(). */
  function terminal(published: unknown[]): Promise<Channel> {
    const onChannel = demoChannels({ now: () => new Date(0), publish: (name, data) => (published.push({ name, data }), 3) });
    const ends: { d?: Mux } = {};
    const c = new Mux({ role: 'client', send: (f) => setImmediate(() => ends.d!.receive(f)) });
    const d = new Mux({
      role: 'daemon',
      send: (f) => setImmediate(() => c.receive(f)),
      onStream: (stream) => routeStream(stream, { fetch: () => new Response('http'), onChannel }),
    });
    ends.d = d;
    live.push(c, d);
    c.start();
    d.start();
    return openChannel(c, '/term');
  }

  it('/term answers each line: help, date, echo, say, and echoes anything else', async () => {
    const published: unknown[] = [];
    const term = await terminal(published);
    void term.send('help');
    void term.send('date\necho  hello  world \n\n');
    void term.send(new TextEncoder().encode('say deploy done'));
    void term.send('ls -la');
    void term.send('say');
    void term.send(`say ${'x'.repeat(100_000)}`);
    const got: string[] = [];
    for await (const m of term) {
      got.push(m as string);
      if (got.length === 7) break;
    }
    expect(got[0]).toMatch(/^commands: help, date, echo TEXT, say TEXT/);
    expect(got.slice(1)).toEqual(['1970-01-01T00:00:00.000Z', 'hello  world', 'sent to 3 session(s)', 'ls -la', 'usage: say TEXT', 'say: at most 280 characters']);
    expect(published).toEqual([{ name: 'message', data: { text: 'deploy done', at: '1970-01-01T00:00:00.000Z', from: 'terminal' } }]);
  });

  it('serves only /term', async () => {
    expect(Object.keys(demoChannels())).toEqual(['/term']);
  });
});
