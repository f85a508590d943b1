/** reverseProxy called directly with `new Request(...)` against a real local node:http server. */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reverseProxy } from './reverse-proxy.js';

let server: Server;
let origin: string;
let last: IncomingMessage | undefined;
let aborted = false;

beforeAll(async () => {
  server = createServer((req, res) => {
    last = req;
    const url = new URL(req.url!, 'http://x');
    if (url.pathname === '/echo') {
      res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/octet-stream', connection: 'x-secret', 'x-secret': 'hop', 'keep-alive': 'timeout=5' });
      req.pipe(res);
    } else if (url.pathname === '/gzip') {
      const body = gzipSync('compressed hello');
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': body.length });
      res.end(body);
    } else if (url.pathname === '/redirect') {
      res.writeHead(302, { location: '/elsewhere' }).end();
    } else if (url.pathname === '/cookies') {
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.end('ok');
    } else if (url.pathname === '/hang') {
      req.on('close', () => (aborted = true));
      res.writeHead(200);
      res.write('started');
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('reverseProxy', () => {
  it('forwards method, path, query and body; drops hop-by-hop and host both ways; sets x-forwarded-*', async () => {
    const proxy = reverseProxy(origin);
    const res = await proxy(
      new Request('http://localhost/echo?q=1', {
        method: 'POST',
        body: 'payload',
        headers: {
          'content-type': 'text/plain',
          connection: 'x-drop-me',
          'x-drop-me': '1',
          'proxy-authorization': 'Basic Zm9v',
          te: 'trailers',
          'x-forwarded-for': '10.0.0.1',
          forwarded: 'for=10.0.0.1',
          'x-keep': 'yes',
        },
      }),
    );
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('payload');
    expect(res.headers.get('x-secret')).toBeNull();
    expect(res.headers.get('keep-alive')).toBeNull();
    expect(res.headers.get('connection')).toBeNull();
    const seen = last!.headers;
    expect(last!.url).toBe('/echo?q=1');
    expect(seen['x-keep']).toBe('yes');
    expect(seen['x-drop-me']).toBeUndefined();
    expect(seen['proxy-authorization']).toBeUndefined();
    expect(seen.te).toBeUndefined();
    expect(seen.host).toBe(new URL(origin).host); // the target's own, never the client's
    expect(seen['x-forwarded-for']).toBe('unknown'); // the client's claim is replaced, never passed on
    expect(seen['x-forwarded-host']).toBe('localhost');
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen.forwarded).toBe('for=unknown;host="localhost";proto=http');
  });

  it('passes redirects and repeated Set-Cookie through, and drops a coding fetch already undid', async () => {
    const proxy = reverseProxy(new URL(origin), { forwardedProto: 'https' });
    const redirect = await proxy(new Request('http://localhost/redirect'));
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe('/elsewhere');
    expect(last!.headers['x-forwarded-proto']).toBe('https');
    const cookies = await proxy(new Request('http://localhost/cookies'));
    expect(cookies.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    const gz = await proxy(new Request('http://localhost/gzip'));
    expect(gz.headers.get('content-encoding')).toBeNull();
    expect(gz.headers.get('content-length')).toBeNull();
    expect(await gz.text()).toBe('compressed hello');
  });

  it('sends upstream only what the client sent, plus X-Forwarded-* and what HTTP/1.1 needs', async () => {
    const res = await reverseProxy(origin)(new Request('https://app.example/echo', { headers: { 'x-only': 'this' } }));
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const names = last!.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    // No accept, accept-language, sec-fetch-mode, user-agent or accept-encoding of fetch's own.
    expect(names.sort()).toEqual(['connection', 'forwarded', 'host', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-only']);
  });

  it('passes a coding the client accepted through untouched', async () => {
    const res = await reverseProxy(origin)(new Request('http://localhost/gzip', { headers: { 'accept-encoding': 'gzip' } }));
    expect(last!.headers['accept-encoding']).toBe('gzip');
    expect(res.headers.get('content-encoding')).toBe('gzip');
    expect(Buffer.from(await res.arrayBuffer())).toEqual(gzipSync('compressed hello'));
  });

  it('answers 502 upstream_unreachable when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const res = await reverseProxy(`http://127.0.0.1:${port}`)(new Request('http://localhost/x'));
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ error: { code: 'upstream_unreachable' } });
  });

  it('aborts the upstream request when the client cancels', async () => {
    aborted = false;
    const controller = new AbortController();
    const res = await reverseProxy(origin)(new Request('http://localhost/hang', { signal: controller.signal }));
    const reader = res.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('started');
    controller.abort();
    await expect(reader.read()).rejects.toBeDefined();
    for (let i = 0; i < 100 && !aborted; i++) await new Promise((r) => setTimeout(r, 10));
    expect(aborted).toBe(true);
  });

  it('rejects a non-http target at construction', () => {
    expect(() => reverseProxy('file:///etc')).toThrow(TypeError);
  });
});
