// Forked by bench/node.bench.ts: baseline C's relay, a bare `ws` forwarder with no checks and no
// encryption. It keeps one WebSocket to the daemon child's `ws` server (as the sideband daemon
// keeps one to the relay) and copies every client message to it with a 4-byte connection id in
// front; answers come back with that id, which routes them to the client socket.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { serveParent } from '../../test/helpers/child-ipc.js';

let upstream: WebSocket | undefined;
let wss: WebSocketServer | undefined;

serveParent(
  {
    async start(payload) {
      const { daemonUrl } = payload as { daemonUrl: string };
      upstream = new WebSocket(daemonUrl);
      upstream.on('error', () => {}); // the daemon child may be SIGKILLed (restart figure)
      await once(upstream, 'open');
      const clients = new Map<number, WebSocket>();
      let nextId = 1;
      upstream.on('message', (data: Buffer) => clients.get(data.readUInt32BE(0))?.send(data.subarray(4)));
      wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
      await once(wss, 'listening');
      wss.on('connection', (socket) => {
        const cid = nextId++;
        const prefix = Buffer.alloc(4);
        prefix.writeUInt32BE(cid);
        clients.set(cid, socket);
        socket.on('error', () => socket.terminate());
        socket.on('message', (data: Buffer) => {
          if (upstream!.readyState === WebSocket.OPEN) upstream!.send(Buffer.concat([prefix, data]));
        });
        socket.on('close', () => clients.delete(cid));
      });
      return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}` };
    },
  },
  async () => {
    upstream?.close();
    wss?.close();
  },
);
