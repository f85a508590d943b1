// Forked by bench/node.bench.ts: everything on the daemon's side of the Node benchmarks, in one
// process of its own, serving bench/handler.ts three ways (only one is measured at a time):
//   listen   the sideband daemon (`listen()`), connected out to the relay child
//   http     a node:http server with a minimal WHATWG adapter (baseline A)
//   ws       a bare `ws` server answering JSON requests `{id, method, path}` that arrive with a
//            4-byte connection id in front, as the forwarder child sends them (baseline C)
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { fromBase64Url } from '../../protocol/bytes.js';
import { listen } from '../../daemon/listen.js';
import type { Listener } from '../../daemon/listen-types.js';
import { identityFromSeed } from '../../daemon/identity.js';
import { serveParent } from '../../test/helpers/child-ipc.js';
import { benchHandler } from '../handler.js';
import { DATA_KIND } from '../ws-stream-client.js';

let listener: Listener | undefined;
let http: Server | undefined;
let wss: WebSocketServer | undefined;

async function serveNode(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  const request = new Request(`http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`, {
    method: req.method,
    body: hasBody ? (Readable.toWeb(req) as ReadableStream<Uint8Array>) : undefined,
    duplex: 'half',
  } as RequestInit);
  const response = await benchHandler(request);
  res.writeHead(response.status, Object.fromEntries(response.headers));
  if (response.body) {
    for await (const chunk of response.body) {
      if (!res.write(chunk)) await once(res, 'drain');
    }
  }
  res.end();
}

/** Baseline C's download: the handler's body chunks as data messages, paced by the socket only. */
async function streamBody(socket: WebSocket, cid: Buffer, path: string): Promise<void> {
  const response = await benchHandler(new Request(`http://daemon${path}`));
  const kind = Buffer.from([DATA_KIND]);
  for await (const chunk of response.body!) {
    const message = Buffer.concat([cid, kind, chunk]);
    if (socket.bufferedAmount > 1024 * 1024) await new Promise<void>((resolve) => socket.send(message, () => resolve()));
    else socket.send(message);
  }
}

serveParent(
  {
    async listen(payload) {
      const { relay, apiKey, seed } = payload as { relay: string; apiKey: string; seed: string };
      listener = await listen({ relay, apiKey, identity: identityFromSeed(fromBase64Url(seed)), fetch: benchHandler });
      return { daemonId: listener.daemonId };
    },
    async http() {
      http = createServer((req, res) => {
        serveNode(req, res).catch(() => res.destroy());
      });
      http.keepAliveTimeout = 60_000;
      http.listen(0, '127.0.0.1');
      await once(http, 'listening');
      return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}` };
    },
    async ws() {
      wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
      await once(wss, 'listening');
      wss.on('connection', (socket) => {
        // Uploads in progress per connection id (bench/ws-stream-client.ts): data messages count.
        const uploads = new Map<number, { id: number; size: number; length: number }>();
        socket.on('message', (data: Buffer) => {
          const cid = data.subarray(0, 4);
          const key = data.readUInt32BE(0);
          if (data[4] === DATA_KIND) {
            const upload = uploads.get(key)!;
            upload.length += data.length - 5;
            if (upload.length >= upload.size) {
              uploads.delete(key);
              socket.send(Buffer.concat([cid, Buffer.from(JSON.stringify({ id: upload.id, length: upload.length }))]));
            }
            return;
          }
          const { id, method, path, size } = JSON.parse(data.subarray(4).toString()) as { id: number; method: string; path: string; size: number };
          if (method === 'UPLOAD') {
            uploads.set(key, { id, size, length: 0 });
            return;
          }
          if (method === 'DOWNLOAD') {
            void streamBody(socket, cid, path);
            return;
          }
          void benchHandler(new Request(`http://daemon${path}`, { method }))
            .then(async (response) => ({ id, status: response.status, body: await response.text() }))
            .then((answer) => socket.send(Buffer.concat([cid, Buffer.from(JSON.stringify(answer))])));
        });
      });
      return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}` };
    },
    ping: () => 'pong',
  },
  async () => {
    await listener?.close();
    http?.closeAllConnections();
    http?.close();
    wss?.close();
  },
);
