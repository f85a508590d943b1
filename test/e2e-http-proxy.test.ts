/**
 * Reverse-proxy mode end to end: a real local node:http server behind `reverseProxy` served by
 * `listen()`, used through the Node client over a real relay. The CLI flag: e2e-http-cli.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reverseProxy } from '../daemon/reverse-proxy.js';
import { checkNoLeakedHandles } from './helpers/leak-check.js';
import { fillPattern, hashBody, patternStream, startHttpFixture, type HttpFixture } from './helpers/http-fixture.js';
import { waitFor } from './helpers/wait.js';

const MB = 1024 * 1024;

describe('e2e: reverse proxy to a local HTTP server', () => {
  checkNoLeakedHandles();
  let upstream: Server;
  let h: HttpFixture;
  let lastHeaders: IncomingHttpHeaders = {};
  let upstreamAborted = false;

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      lastHeaders = req.headers;
      const url = new URL(req.url!, 'http://upstream');
      if (url.pathname === '/upload') {
        const hash = createHash('sha256');
        let length = 0;
        req.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          length += chunk.length;
        });
        req.on('end', () => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ sha256: hash.digest('hex'), length, headers: req.headers }));
        });
      } else if (url.pathname === '/download') {
        const size = Number(url.searchParams.get('size'));
        // Hop-by-hop headers on the way back: none may reach the client.
        res.writeHead(200, { 'content-type': 'application/octet-stream', connection: 'x-upstream-hop', 'x-upstream-hop': 'secret', 'keep-alive': 'timeout=5', 'x-end-to-end': 'kept' });
        let offset = 0;
        const write = (): void => {
          while (offset < size) {
            const chunk = Buffer.alloc(Math.min(64 * 1024, size - offset));
            fillPattern(chunk, 3, offset);
            offset += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', write);
          }
          res.end();
        };
        write();
      } else if (url.pathname === '/hang') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('waiting');
        res.on('close', () => (upstreamAborted = !res.writableEnded));
      } else if (url.pathname === '/redirect') {
        res.writeHead(303, { location: '/elsewhere' }).end();
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('no such page');
      }
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    h = await startHttpFixture({ fetch: reverseProxy(origin) });
  });

  afterAll(async () => {
    await h.close();
    upstream.closeAllConnections();
    await new Promise((resolve) => upstream.close(resolve));
  });

  it('streams an upload and a download through, intact by SHA-256', async () => {
    const client = h.client();
    const size = 12 * MB;
    const expected = createHash('sha256');
    const chunk = new Uint8Array(MB);
    for (let offset = 0; offset < size; offset += MB) {
      fillPattern(chunk, 3, offset);
      expected.update(chunk);
    }
    const digest = expected.digest('hex');

    const up = await client.fetch('/upload?x=1', { method: 'POST', body: patternStream(size, 3).stream, headers: { 'content-type': 'application/octet-stream' } });
    expect(await up.json()).toMatchObject({ sha256: digest, length: size });

    const down = await client.fetch(`/download?size=${size}`);
    expect(down.status).toBe(200);
    expect(await hashBody(down.body)).toEqual({ sha256: digest, length: size });
  });

  it('drops hop-by-hop headers and host both ways and adds x-forwarded-*; passes redirects and 404s as they are', async () => {
    const client = h.client();
    const res = await client.fetch('/download?size=10', { headers: { 'x-forwarded-for': '6.6.6.6', 'x-client': 'kept' } });
    await res.arrayBuffer();
    expect(res.headers.get('x-end-to-end')).toBe('kept');
    expect(res.headers.get('x-upstream-hop')).toBeNull();
    expect(res.headers.get('keep-alive')).toBeNull();
    expect(res.headers.get('connection')).toBeNull();
    expect(lastHeaders['x-client']).toBe('kept');
    expect(lastHeaders.host).toBe(new URL(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`).host);
    expect(lastHeaders['x-forwarded-for']).toBe('unknown'); // never the client's own claim
    expect(lastHeaders['x-forwarded-proto']).toBe('http');
    expect(lastHeaders['x-forwarded-host']).toBe('localhost');

    const redirect = await client.fetch('/redirect');
    expect(redirect.status).toBe(303);
    expect(redirect.headers.get('location')).toBe('/elsewhere');
    const missing = await client.fetch('/nope');
    expect(missing.status).toBe(404);
    expect(await missing.text()).toBe('no such page');
  });

  it('a client that cancels aborts the upstream request', async () => {
    const client = h.client();
    upstreamAborted = false;
    const controller = new AbortController();
    const res = await client.fetch('/hang', { signal: controller.signal });
    const reader = res.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('waiting');
    controller.abort();
    await expect(reader.read()).rejects.toBeDefined();
    await waitFor(() => upstreamAborted, 'the upstream request aborted');
  });

  it('answers 502 upstream_unreachable once the local server is down', async () => {
    const client = h.client();
    upstream.closeAllConnections();
    await new Promise((resolve) => upstream.close(resolve));
    const res = await client.fetch('/anything');
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ error: { code: 'upstream_unreachable' } });
    upstream.listen(0, '127.0.0.1'); // so afterAll's close has something to close
    await new Promise((resolve) => upstream.once('listening', resolve));
  });
});
