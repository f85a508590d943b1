import { describe, expect, it } from 'vitest';
import { demoApp } from './demo-app.js';

describe('demo app (the CLI default)', () => {
  const app = demoApp({ tickMs: 5, now: () => new Date(0) });

  it('GET /api/hello', async () => {
    expect(await (await app(new Request('http://localhost/api/hello?name=sb'))).json()).toEqual({ hello: 'sb' });
    expect(await (await app(new Request('http://localhost/api/hello'))).json()).toEqual({ hello: 'world' });
  });

  it('POST /api/echo streams the body back with its content type', async () => {
    const res = await app(new Request('http://localhost/api/echo', { method: 'POST', body: 'ping', headers: { 'content-type': 'text/plain' } }));
    expect(res.headers.get('content-type')).toBe('text/plain');
    expect(await res.text()).toBe('ping');
  });

  it('GET /api/clock streams n SSE ticks and stops when the client goes away', async () => {
    const res = await app(new Request('http://localhost/api/clock?n=3'));
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const text = await res.text();
    expect(text.match(/event: tick/g)).toHaveLength(3);
    expect(text).toContain('data: {"n":2,"time":"1970-01-01T00:00:00.000Z"}');

    const controller = new AbortController();
    const endless = await app(new Request('http://localhost/api/clock', { signal: controller.signal }));
    const reader = endless.body!.getReader();
    await reader.read();
    controller.abort();
    await reader.cancel();
  });

  it('anything else is a JSON 404', async () => {
    const res = await app(new Request('http://localhost/nope', { method: 'DELETE' }));
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: 'not_found' } });
  });
});
