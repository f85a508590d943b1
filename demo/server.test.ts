/**
 * The demo's web server on a real socket (port 0), serving a small built tree in a temp dir.
 * Traversal attempts go out through node:http as raw paths: fetch() would normalize them first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { injectRelayMeta, resolvePath, startWebServer, type WebServer } from './server.js';

const RELAY = 'http://127.0.0.1:8787';
let dir: string;
let web: WebServer;
let plain: WebServer;

/** A request with the path exactly as given, for paths fetch() would rewrite. */
function raw(base: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sideband-web-'));
  const root = join(dir, 'web');
  await mkdir(join(root, 'assets'), { recursive: true });
  await writeFile(join(dir, 'secret.txt'), 'TOP-SECRET');
  await writeFile(join(dir, 'package.json'), '{"secret":"TOP-SECRET"}');
  await writeFile(join(root, 'index.html'), '<!doctype html>\n<html>\n  <head>\n    <title>demo</title>\n  </head>\n  <body></body>\n</html>\n');
  await writeFile(join(root, 'sideband-sw.js'), 'self.addEventListener("fetch", () => {});\n');
  await writeFile(join(root, 'sideband-page.js'), 'export {};\n');
  await writeFile(join(root, 'assets', 'main-abc123.js'), 'console.log(1);\n');
  await writeFile(join(root, 'assets', 'main-abc123.css'), 'body{}\n');
  await writeFile(join(root, 'assets', 'main-abc123.js.map'), '{}');
  web = await startWebServer({ port: 0, root, relayUrl: () => RELAY, devPairCode: async () => '7KQ2M-XD9RP-4TAVB-0HNZC-W3E8FJ' });
  plain = await startWebServer({ port: 0, root, relayUrl: 'https://relay.example/"><script>' });
});

afterAll(async () => {
  await web.close();
  await web.close(); // idempotent
  await plain.close();
  await rm(dir, { recursive: true, force: true });
});

describe('demo web server', () => {
  it('listens on 127.0.0.1 and reports its URL without a trailing slash', () => {
    expect(web.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('serves index.html at / with the relay meta tag injected, not cached', async () => {
    const res = await fetch(`${web.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const html = await res.text();
    expect(html).toContain(`<meta name="sideband-relay" content="${RELAY}">`);
    expect(html.indexOf('sideband-relay')).toBeLessThan(html.indexOf('</head>'));
    expect(await (await fetch(`${web.url}/index.html`)).text()).toBe(html);
    expect(Number(res.headers.get('content-length'))).toBe(Buffer.byteLength(html));
  });

  it('escapes the relay URL in the attribute', async () => {
    const html = await (await fetch(`${plain.url}/`)).text();
    expect(html).toContain('<meta name="sideband-relay" content="https://relay.example/&quot;&gt;&lt;script&gt;">');
    expect(html).not.toContain('<script>');
  });

  it('serves the worker script with Service-Worker-Allowed and no-cache', async () => {
    const res = await fetch(`${web.url}/sideband-sw.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(res.headers.get('service-worker-allowed')).toBe('/');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(await res.text()).toContain('addEventListener');
  });

  it('gives each file its content type; hashed assets are immutable', async () => {
    const types: [string, string][] = [
      ['/sideband-page.js', 'text/javascript; charset=utf-8'],
      ['/assets/main-abc123.js', 'text/javascript; charset=utf-8'],
      ['/assets/main-abc123.css', 'text/css; charset=utf-8'],
      ['/assets/main-abc123.js.map', 'application/json; charset=utf-8'],
    ];
    for (const [path, type] of types) {
      const res = await fetch(`${web.url}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toBe(type);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      await res.arrayBuffer();
    }
    expect((await fetch(`${web.url}/assets/main-abc123.js`)).headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
  });

  it('answers HEAD without a body, other methods with 405', async () => {
    const head = await fetch(`${web.url}/sideband-sw.js`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const post = await fetch(`${web.url}/`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('404s what does not exist, directories included', async () => {
    for (const path of ['/nope.js', '/assets', '/assets/']) {
      const res = await fetch(`${web.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.json()).toMatchObject({ error: { code: 'not_found' } });
    }
  });

  it('refuses path traversal in every spelling', async () => {
    const attempts = [
      '/../package.json',
      '/../secret.txt',
      '/%2e%2e/secret.txt',
      '/%2E%2E/%2E%2E/secret.txt',
      '/..%2fsecret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/%2e%2e%2fsecret.txt',
      '/..%5csecret.txt',
      '/assets/%2e%2e/%2e%2e/package.json',
      '/%00index.html',
      '/%E0%A4%A',
    ];
    for (const path of attempts) {
      const res = await raw(web.url, path);
      expect([400, 404], path).toContain(res.status);
      expect(res.body, path).not.toContain('TOP-SECRET');
    }
    expect((await raw(web.url, '/..%2fsecret.txt')).status).toBe(400);
    expect((await raw(web.url, '/%E0%A4%A')).status).toBe(400);
  });

  it('resolvePath keeps every answer inside the root', () => {
    expect(resolvePath('/srv/web', '/a/b.js')).toBe('/srv/web/a/b.js');
    expect(resolvePath('/srv/web', '/a/%2e%2e/%2e%2e/x')).toBeUndefined();
    expect(resolvePath('/srv/web', '/a\\..\\x')).toBeUndefined();
    expect(resolvePath('/srv/web', '/')).toBeUndefined(); // the root itself is no file
  });

  it('answers anything under /sideband/ with the distinctive 503 worker_not_active', async () => {
    for (const [method, path] of [['GET', '/sideband/api/hello'], ['POST', '/sideband/api/upload'], ['DELETE', '/sideband/x?y=1'], ['GET', '/sideband/']]) {
      const res = await fetch(`${web.url}${path}`, { method, body: method === 'POST' ? 'data' : undefined });
      expect(res.status, path).toBe(503);
      expect(res.headers.get('sideband-error')).toBe('worker_not_active');
      expect(res.headers.get('cache-control')).toBe('no-store');
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('worker_not_active');
      expect(body.error.message).toMatch(/service worker does not control this page yet; reload it/);
    }
  });

  it('hands out a dev pairing code to its own origin only, and only in dev mode', async () => {
    const res = await fetch(`${web.url}/dev/pair-code`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({ code: '7KQ2M-XD9RP-4TAVB-0HNZC-W3E8FJ' });
    const port = new URL(web.url).port;
    expect((await raw(web.url, '/dev/pair-code', { host: `localhost:${port}` })).status).toBe(200);
    expect((await raw(web.url, '/dev/pair-code', { host: `evil.example:${port}` })).status).toBe(403);
    expect((await raw(web.url, '/dev/pair-code', { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await fetch(`${plain.url}/dev/pair-code`)).status).toBe(404);
  });

  it('reports a failing dev code source as 502 with its code', async () => {
    const failing = await startWebServer({
      port: 0,
      root: join(dir, 'web'),
      relayUrl: RELAY,
      devPairCode: () => Promise.reject(Object.assign(new Error('nope'), { code: 'rate_limited' })),
    });
    try {
      const res = await fetch(`${failing.url}/dev/pair-code`);
      expect(res.status).toBe(502);
      expect(await res.json()).toMatchObject({ error: { code: 'rate_limited' } });
    } finally {
      await failing.close();
    }
  });

  it('refuses a port in use', async () => {
    await expect(startWebServer({ port: Number(new URL(web.url).port), root: dir, relayUrl: RELAY })).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});

describe('injectRelayMeta', () => {
  it('replaces an earlier tag and works without a head', () => {
    const once = injectRelayMeta('<html><head><meta name="sideband-relay" content="old"></head></html>', 'http://r');
    expect(once.match(/sideband-relay/g)).toHaveLength(1);
    expect(once).toContain('content="http://r"');
    expect(injectRelayMeta('<p>x</p>', 'http://r')).toBe('<meta name="sideband-relay" content="http://r">\n<p>x</p>');
  });
});
