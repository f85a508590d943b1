/**
 * The processes of the browser benchmark (bench/browser.bench.ts), one role per child process so
 * the relay, the daemon and the baseline's forwarder and echo handler each get their own event
 * loop, as they would in production:
 *
 *   tsx bench/browser-child.ts relay '{"origin":"http://127.0.0.1:4000","adminKey":"…","dataDir":"…"}'
 *   tsx bench/browser-child.ts daemon '{"relay":"http://…","apiKey":"…","daemonId":"…","seed":"<hex>"}'
 *   tsx bench/browser-child.ts ws-forwarder '{}'
 *   tsx bench/browser-child.ts ws-echo '{"url":"ws://…"}'
 *
 * (browser-stack.ts passes the JSON in $BENCH_CHILD_CONFIG instead, keeping keys out of `ps`.)
 * Each prints one JSON line (`{"ready":true,…}`) on stdout once it serves, and stops on SIGTERM.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { startRelay } from '../relay/index.js';
import { listen } from '../daemon/listen.js';
import { identityFromSeed } from '../daemon/identity.js';
import { fromHex } from '../protocol/bytes.js';

/** 100 bytes of JSON-safe text: the small response of every path (sideband, plain, WebSocket). */
export const SMALL_BODY = 'x'.repeat(100);
/** Chunk of the download routes (the daemon and node:http alike). */
export const DOWNLOAD_CHUNK = 64 * 1024;

const ready = (extra: Record<string, unknown> = {}) => process.stdout.write(`${JSON.stringify({ ready: true, ...extra })}\n`);
const stopped = () => new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));

/** A download body of `size` bytes in DOWNLOAD_CHUNK pieces (copies of one buffer; the bytes do not matter). */
function downloadStream(size: number): ReadableStream<Uint8Array> {
  const source = new Uint8Array(DOWNLOAD_CHUNK).map((_, i) => (i * 31) & 0xff);
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= size) return controller.close();
      const n = Math.min(DOWNLOAD_CHUNK, size - offset);
      controller.enqueue(source.slice(0, n));
      offset += n;
    },
  });
}

/** The daemon's WHATWG handler: /api/small, /api/bytes?size=N, POST /api/upload. */
async function benchApp(request: Request): Promise<Response> {
  const url = new URL(request.url);
  switch (url.pathname) {
    case '/api/small':
      return new Response(SMALL_BODY, { headers: { 'content-type': 'text/plain', 'cache-control': 'no-store' } });
    case '/api/bytes': {
      const size = Number(url.searchParams.get('size'));
      return new Response(downloadStream(size), { headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) } });
    }
    case '/api/upload': {
      let bytes = 0;
      if (request.body) for await (const chunk of request.body) bytes += chunk.byteLength;
      return Response.json({ bytes });
    }
    default:
      return Response.json({ error: { code: 'not_found' } }, { status: 404 });
  }
}

async function main(role: string, config: Record<string, string>): Promise<void> {
  switch (role) {
    case 'relay': {
      // Product defaults (limits included); only Quick Connect on and the bench page's origin allowed.
      const relay = await startRelay({ port: 0, host: '127.0.0.1', adminKey: config.adminKey, quickConnect: true, allowedOrigins: [config.origin!], webAppUrl: config.origin, dataDir: config.dataDir });
      ready({ url: relay.url });
      await stopped();
      await relay.close();
      return;
    }
    case 'daemon': {
      const daemon = await listen({ relay: config.relay!, apiKey: config.apiKey!, daemonId: config.daemonId!, identity: identityFromSeed(fromHex(config.seed!)), fetch: benchApp });
      ready({ fingerprint: daemon.fingerprint });
      await stopped();
      await daemon.shutdown({ timeoutMs: 1000 });
      return;
    }
    case 'ws-forwarder': {
      // Baseline C's relay: a bare `ws` forwarder, no auth, no checks, no encryption. The first
      // socket with ?role=daemon is the daemon; a client's message goes to it, the daemon's to
      // the client named by the `c` field it echoes back.
      const server = createServer();
      const wss = new WebSocketServer({ server });
      let daemon: WebSocket | undefined;
      const clients = new Map<number, WebSocket>();
      let nextClient = 1;
      wss.on('connection', (ws, req) => {
        if (req.url?.includes('role=daemon')) {
          daemon = ws;
          ws.on('message', (data) => {
            const text = data.toString();
            const c = Number(/"c":(\d+)/.exec(text)?.[1]);
            clients.get(c)?.send(text);
          });
          return;
        }
        const c = nextClient++;
        clients.set(c, ws);
        ws.on('close', () => clients.delete(c));
        ws.on('message', (data) => daemon?.send(`{"c":${c},${data.toString().slice(1)}`));
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      ready({ url: `ws://127.0.0.1:${(server.address() as { port: number }).port}` });
      await stopped();
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      server.close();
      return;
    }
    case 'ws-echo': {
      // Baseline C's daemon: answers each `{c, id, path}` with `{c, id, status, body}` (100 B body).
      const ws = new WebSocket(`${config.url}/?role=daemon`);
      await once(ws, 'open');
      ws.on('message', (data) => {
        const message = JSON.parse(data.toString()) as { c: number; id: number; path: string };
        const answer = message.path === '/api/small' ? { status: 200, body: SMALL_BODY } : { status: 404, body: '' };
        ws.send(JSON.stringify({ c: message.c, id: message.id, ...answer }));
      });
      ready();
      await stopped();
      ws.close();
      return;
    }
    default:
      throw new Error(`unknown role ${role}`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv[2], JSON.parse(process.env.BENCH_CHILD_CONFIG ?? process.argv[3] ?? '{}') as Record<string, string>).then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`browser-child ${process.argv[2]}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
