/**
 * The demo web app's own origin (design.md: `npm start` serves it apart from the relay): the
 * built files of `dist/web/`, the relay URL injected into index.html, and the answers a page
 * needs when the service worker is not in the way yet. Node only; the browser side is main.ts.
 *
 *   const web = await startWebServer({ port: 5173, relayUrl: relay.url });   // web.url
 *   await web.close();
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, resolve, sep } from 'node:path';

export interface WebServerOptions {
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Interface to bind (default 127.0.0.1, a secure context for service workers without TLS). */
  host?: string;
  /** Directory of the built web app (default `dist/web`). */
  root?: string;
  /** Relay base URL for `<meta name="sideband-relay">`; a function when it is known only later. */
  relayUrl: string | (() => string);
  /** Dev mode: `GET /dev/pair-code` answers `{code}` from this, so the page pairs by itself. */
  devPairCode?: () => Promise<string>;
}

export interface WebServer {
  /** `http://host:port`, no trailing slash. */
  readonly url: string;
  /** Stops listening and closes open connections. Idempotent. */
  close(): Promise<void>;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webmanifest': 'application/manifest+json',
  '.wasm': 'application/wasm',
  '.woff2': 'font/woff2',
};

/** What the page library's prefix means; a page without a controller sends these here (service-worker.md). */
const SIDEBAND_PREFIX = '/sideband/';
const WORKER_SCRIPT = '/sideband-sw.js';

/** Starts the server; resolves once it listens. */
export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const host = options.host ?? '127.0.0.1';
  const root = resolve(options.root ?? 'dist/web');
  const relayUrl = typeof options.relayUrl === 'function' ? options.relayUrl : () => options.relayUrl as string;
  const context: Context = { root, relayUrl, devPairCode: options.devPairCode, ownHosts: new Set() };
  const server = createServer((req, res) => {
    handle(req, res, context).catch(() => {
      if (!res.headersSent) sendJson(res, 500, { error: { code: 'internal_error', message: 'the web server failed' } });
      else res.destroy();
    });
  });
  await new Promise<void>((ready, fail) => {
    server.once('error', fail);
    server.listen(options.port, host, () => {
      server.off('error', fail);
      ready();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  context.ownHosts = new Set([`${shownHost}:${port}`, `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]);
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${port}`,
    close: () =>
      (closing ??= new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      })),
  };
}

interface Context {
  root: string;
  relayUrl: () => string;
  devPairCode?: () => Promise<string>;
  /** The Host values a page on this server sends (set once listening). */
  ownHosts: ReadonlySet<string>;
}

async function handle(req: IncomingMessage, res: ServerResponse, context: Context): Promise<void> {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  req.resume(); // no route reads a body; drain it so the connection stays usable
  const pathname = new URL(req.url ?? '/', 'http://web.invalid').pathname;

  if (pathname.startsWith(SIDEBAND_PREFIX)) {
    // Only a page the worker does not control gets here: say so, distinctly, never a 404 page.
    res.setHeader('Sideband-Error', 'worker_not_active');
    res.setHeader('Cache-Control', 'no-store');
    sendJson(res, 503, {
      error: { code: 'worker_not_active', message: 'This request reached the web server: the Sideband service worker does not control this page yet; reload it.' },
    });
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    sendJson(res, 405, { error: { code: 'method_not_allowed', message: `${req.method} is not allowed here` } });
    return;
  }
  if (pathname === '/dev/pair-code') return devPairCode(req, res, context);

  const file = resolvePath(context.root, pathname === '/' ? '/index.html' : pathname);
  if (!file) {
    sendJson(res, 400, { error: { code: 'bad_path', message: 'that path is not allowed' } });
    return;
  }
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) {
    sendJson(res, 404, { error: { code: 'not_found', message: `${pathname} does not exist` } });
    return;
  }
  res.setHeader('Content-Type', CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream');
  res.setHeader('Cache-Control', cacheControl(pathname));
  if (pathname === WORKER_SCRIPT) res.setHeader('Service-Worker-Allowed', '/');

  if (file === resolve(context.root, 'index.html')) {
    const html = Buffer.from(injectRelayMeta(await readFile(file, 'utf8'), context.relayUrl()));
    res.setHeader('Content-Length', html.byteLength);
    res.end(req.method === 'HEAD' ? undefined : html);
    return;
  }
  res.setHeader('Content-Length', info.size);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await new Promise<void>((done, fail) => {
    const stream = createReadStream(file);
    stream.once('error', fail);
    res.once('close', () => {
      stream.destroy();
      done();
    });
    stream.pipe(res);
  });
}

/**
 * The file a URL path names inside `root`, or undefined for anything that could leave it:
 * undecodable escapes, `..` segments (also when escaped, `%2e%2e`, `..%2f`), backslashes, NUL.
 */
export function resolvePath(root: string, pathname: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\') || decoded.split('/').includes('..')) return undefined;
  const file = resolve(root, `.${decoded}`);
  return file.startsWith(root + sep) ? file : undefined;
}

/** index.html with `<meta name="sideband-relay" content="…">` (any earlier one replaced) before `</head>`. */
export function injectRelayMeta(html: string, relayUrl: string): string {
  const meta = `<meta name="sideband-relay" content="${escapeAttribute(relayUrl)}">`;
  const without = html.replace(/<meta\s+name="sideband-relay"[^>]*>\s*/gi, '');
  return /<\/head>/i.test(without) ? without.replace(/<\/head>/i, `  ${meta}\n  </head>`) : `${meta}\n${without}`;
}

async function devPairCode(req: IncomingMessage, res: ServerResponse, context: Context): Promise<void> {
  if (!context.devPairCode) {
    sendJson(res, 404, { error: { code: 'not_found', message: 'dev mode is off' } });
    return;
  }
  // A pairing code is a credential: hand it only to pages of this very origin. Another site
  // cannot read the answer (no CORS headers), but a DNS-rebound name could, hence the Host check.
  const site = req.headers['sec-fetch-site'];
  if (!context.ownHosts.has(req.headers.host ?? '') || (site !== undefined && site !== 'same-origin' && site !== 'none')) {
    sendJson(res, 403, { error: { code: 'forbidden', message: 'the dev pairing code is for this origin only' } });
    return;
  }
  res.setHeader('Cache-Control', 'no-store');
  try {
    sendJson(res, 200, { code: await context.devPairCode() });
  } catch (error) {
    const code = typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : 'pair_code_failed';
    sendJson(res, 502, { error: { code, message: 'the daemon could not create a Quick Connect code' } });
  }
}

function cacheControl(pathname: string): string {
  // Vite's hashed assets never change under one name; everything else must be revalidated
  // (above all the worker script and index.html, or an update would never reach the browser).
  return pathname.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache';
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.byteLength });
  res.end(body);
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
