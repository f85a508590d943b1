import { createServer, STATUS_CODES, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';

/**
 * Test-only man in the middle: a WebSocket proxy between an endpoint (client or daemon) and the
 * relay that can rewrite, drop, duplicate, reorder or inject frames, or cut the connection.
 * The upgrade request (path, query, Authorization) is replayed upstream first; a refused upstream
 * upgrade is answered downstream with the same status.
 *
 *   const proxy = await startTamperProxy(relay.wsUrl);
 *   proxy.setHook((frame, dir) => (dir === 'toEndpoint' && frame[0] === 0x03 ? [frame, frame] : undefined));
 *   connectClient({ relay: relay.url, wsUrl: proxy.wsUrl, ... });
 */

/** `toRelay`: from the endpoint to the relay; `toEndpoint`: from the relay to the endpoint. */
export type ProxyDirection = 'toRelay' | 'toEndpoint';

/**
 * Decides what happens to one frame: `undefined` forwards it unchanged, `null` drops it, a
 * Uint8Array replaces it, an array sends each element in order (duplicate, or release frames
 * held back earlier to reorder them).
 */
export type FrameHook = (frame: Uint8Array, direction: ProxyDirection, connection: ProxyConnection) => Uint8Array | readonly Uint8Array[] | null | undefined;

export interface ProxyConnection {
  readonly id: number;
  /** Request path and query of the upgrade. */
  readonly url: string;
  sendToRelay(frame: Uint8Array): void;
  sendToEndpoint(frame: Uint8Array): void;
  /** Cuts both sides at once, like a network failure (no close handshake). */
  drop(): void;
}

export interface TamperProxy {
  readonly wsUrl: string;
  readonly connections: ReadonlySet<ProxyConnection>;
  setHook(hook: FrameHook | undefined): void;
  /** Cuts every current connection. */
  dropAll(): void;
  close(): Promise<void>;
}

export async function startTamperProxy(targetWsUrl: string): Promise<TamperProxy> {
  const target = new URL(targetWsUrl);
  const connections = new Set<ProxyConnection>();
  const sockets = new Set<WebSocket>();
  const pending = new Set<Duplex>();
  let hook: FrameHook | undefined;
  let nextId = 1;
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false, maxPayload: 1 << 20 });
  const server = createServer((_req, res) => {
    res.writeHead(404).end();
  });

  const relayFrames = (conn: ProxyConnection, to: WebSocket, data: Uint8Array, direction: ProxyDirection): void => {
    const verdict = hook?.(data, direction, conn);
    const frames = verdict === undefined ? [data] : verdict === null ? [] : verdict instanceof Uint8Array ? [verdict] : verdict;
    for (const frame of frames) if (to.readyState === WebSocket.OPEN) to.send(frame);
  };

  const wire = (endpoint: WebSocket, upstream: WebSocket, early: Uint8Array[], req: IncomingMessage): void => {
    const conn: ProxyConnection = {
      id: nextId++,
      url: req.url ?? '/',
      sendToRelay: (frame) => upstream.readyState === WebSocket.OPEN && upstream.send(frame),
      sendToEndpoint: (frame) => endpoint.readyState === WebSocket.OPEN && endpoint.send(frame),
      drop: () => {
        endpoint.terminate();
        upstream.terminate();
      },
    };
    connections.add(conn);
    sockets.add(endpoint);
    const bytes = (data: WebSocket.RawData): Uint8Array => {
      const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    };
    upstream.removeAllListeners('message');
    upstream.on('message', (data) => relayFrames(conn, endpoint, bytes(data), 'toEndpoint'));
    endpoint.on('message', (data) => relayFrames(conn, upstream, bytes(data), 'toRelay'));
    for (const frame of early) relayFrames(conn, endpoint, frame, 'toEndpoint');
    const closeBoth = (): void => {
      connections.delete(conn);
      sockets.delete(endpoint);
      sockets.delete(upstream);
      // Abrupt on both sides keeps the test deterministic: the peer sees the drop at once.
      if (endpoint.readyState !== WebSocket.CLOSED) endpoint.terminate();
      if (upstream.readyState !== WebSocket.CLOSED) upstream.terminate();
    };
    endpoint.on('close', closeBoth);
    upstream.on('close', closeBoth);
    endpoint.on('error', () => {});
  };

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    pending.add(socket);
    socket.on('error', () => {});
    const headers: Record<string, string> = {};
    if (req.headers.authorization) headers.authorization = req.headers.authorization;
    if (req.headers.origin) headers.origin = req.headers.origin;
    const upstream = new WebSocket(new URL(req.url ?? '/', target.origin.replace(/^http/, 'ws')), { headers, perMessageDeflate: false, maxPayload: 1 << 20 });
    sockets.add(upstream);
    const early: Uint8Array[] = [];
    upstream.on('message', (data: Buffer) => early.push(new Uint8Array(data)));
    upstream.on('error', () => {
      pending.delete(socket);
      socket.destroy();
    });
    upstream.once('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('end', () => {
        pending.delete(socket);
        sockets.delete(upstream);
        const body = Buffer.concat(chunks);
        const status = response.statusCode ?? 502;
        socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.toString('utf8')}`);
        _request.destroy();
      });
    });
    socket.once('close', () => {
      if (pending.delete(socket)) upstream.terminate();
    });
    upstream.once('open', () => {
      if (!pending.delete(socket)) return upstream.terminate();
      wss.handleUpgrade(req, socket, head, (endpoint) => wire(endpoint, upstream, early, req));
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    wsUrl: `ws://127.0.0.1:${port}${target.pathname}`,
    connections,
    setHook(next) {
      hook = next;
    },
    dropAll() {
      for (const conn of [...connections]) conn.drop();
    },
    close() {
      closing ??= (async () => {
        for (const socket of pending) socket.destroy();
        pending.clear();
        for (const ws of sockets) ws.terminate();
        sockets.clear();
        connections.clear();
        wss.close();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
      })();
      return closing;
    },
  };
}
