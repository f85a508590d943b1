import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { KEEP_ALIVE_TRANSPORT_DEFAULTS, keepAliveAgents, keepAliveTransport } from './keep-alive-transport.js';

const send = (url: string, request: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal } = {}) =>
  keepAliveTransport(new URL(url), { method: request.method ?? 'GET', headers: request.headers ?? {}, body: request.body, signal: request.signal ?? new AbortController().signal });

let server: Server | undefined;

async function serve(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<{ url: string; connections: Socket[] }> {
  const connections: Socket[] = [];
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handler(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  server.on('connection', (socket: Socket) => connections.push(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections };
}

afterEach(async () => {
  server?.closeAllConnections();
  server?.close();
  server = undefined;
  // Pooled sockets of one test must not be handed to the next test's server.
  keepAliveAgents['http:'].destroy();
});

describe('keepAliveTransport', () => {
  it('sends method, headers and body, returns status and text, and reuses the connection', async () => {
    const { url, connections } = await serve((req, res, body) => {
      res.writeHead(201, 'Made', { 'content-type': 'application/json' });
      res.end(JSON.stringify({ seen: `${req.method} ${req.url} ${req.headers.authorization} ${req.headers['content-length']} ${body}`, text: 'é' }));
    });
    for (let i = 0; i < 3; i++) {
      const res = await send(`${url}/v1/tokens/session`, { method: 'POST', headers: { authorization: 'Bearer k' }, body: '{"a":"é"}' });
      expect(res).toEqual({ status: 201, statusText: 'Made', text: JSON.stringify({ seen: 'POST /v1/tokens/session Bearer k 10 {"a":"é"}', text: 'é' }) });
    }
    expect(connections).toHaveLength(1);
  });

  it('answers a 204 with empty text and an error status as a normal response', async () => {
    const { url } = await serve((req, res) => {
      res.writeHead(req.url === '/none' ? 204 : 404, { 'content-type': 'application/json' });
      res.end(req.url === '/none' ? undefined : '{"error":{"code":"x"}}');
    });
    expect(await send(`${url}/none`)).toMatchObject({ status: 204, text: '' });
    expect(await send(`${url}/missing`)).toMatchObject({ status: 404, text: '{"error":{"code":"x"}}' });
  });

  it('sends a request again on a fresh connection when the reused one was closed under it', async () => {
    let requests = 0;
    const { url, connections } = await serve((req, res) => {
      requests++;
      // The second request arrives on the kept-alive socket: drop it unanswered, as a server
      // closing an idle connection at that moment would.
      if (requests === 2) return req.socket.destroy();
      res.end(`answer ${requests}`);
    });
    expect((await send(url)).text).toBe('answer 1');
    expect((await send(url, { method: 'POST', body: 'x' })).text).toBe('answer 3');
    expect(connections).toHaveLength(2);
  });

  it('does not retry a failure on a fresh connection', async () => {
    const { url, connections } = await serve((req) => req.socket.destroy());
    await expect(send(url)).rejects.toThrow();
    expect(connections).toHaveLength(1);
  });

  it(`refuses a response body over ${KEEP_ALIVE_TRANSPORT_DEFAULTS.maxResponseBytes} bytes`, async () => {
    const { url } = await serve((_req, res) => res.end(Buffer.alloc(KEEP_ALIVE_TRANSPORT_DEFAULTS.maxResponseBytes + 1)));
    await expect(send(url)).rejects.toThrow(/exceeds/);
  });

  it(`keeps at most ${KEEP_ALIVE_TRANSPORT_DEFAULTS.maxFreeSockets} idle connections`, async () => {
    const count = KEEP_ALIVE_TRANSPORT_DEFAULTS.maxFreeSockets + 2;
    const held: ServerResponse[] = [];
    const { url, connections } = await serve((_req, res) => {
      held.push(res);
      // Answer once all are in flight, so each had a connection of its own.
      if (held.length === count) for (const r of held) r.end('ok');
    });
    const answers = await Promise.all(Array.from({ length: count }, () => send(url).then((r) => r.text)));
    expect(answers).toEqual(Array(count).fill('ok'));
    expect(connections).toHaveLength(count);
    const free = Object.values(keepAliveAgents['http:'].freeSockets).flat();
    expect(free).toHaveLength(KEEP_ALIVE_TRANSPORT_DEFAULTS.maxFreeSockets);
  });

  it('rejects when the signal aborts, and refuses a URL that is not http(s)', async () => {
    const { url } = await serve(() => {});
    const controller = new AbortController();
    const pending = send(url, { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    await expect(send('ftp://example.test/')).rejects.toThrow(TypeError);
  });
});
