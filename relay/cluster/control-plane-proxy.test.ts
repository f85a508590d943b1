import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createControlPlaneProxy } from './control-plane-proxy.js';

/** The forwarding of a non-writer node, between two real HTTP servers on port 0. */

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function writer(seen: Seen[]): Promise<string> {
  return listen(createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk)).on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      res.writeHead(201, { 'content-type': 'application/json', 'x-writer': 'yes', connection: 'keep-alive' });
      res.end(JSON.stringify({ ok: true }));
    });
  }));
}

async function follower(target: string, maxBodyBytes = 64): Promise<string> {
  const forward = createControlPlaneProxy({ target, maxBodyBytes, timeoutMs: 2000 });
  return listen(createServer((req, res) => void forward(req, res)));
}

/** A raw request, so the body can be chunked (no content-length). */
function send(url: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingMessage['headers']; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('control-plane proxy', () => {
  it('forwards method, path, query, body and end-to-end headers both ways, adding X-Forwarded-For', async () => {
    const seen: Seen[] = [];
    const via = await follower(await writer(seen));
    const answer = await send(`${via}/v1/quick-connect/redeem?x=1`, '{"code":"abc"}', { authorization: 'Bearer k', 'content-type': 'application/json', 'proxy-authorization': 'no' });
    expect(answer).toMatchObject({ status: 201, text: '{"ok":true}' });
    expect(answer.headers['x-writer']).toBe('yes');
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/v1/quick-connect/redeem?x=1', body: '{"code":"abc"}' });
    expect(seen[0]!.headers).toMatchObject({ authorization: 'Bearer k', 'x-forwarded-for': '127.0.0.1' });
    expect(seen[0]!.headers['proxy-authorization']).toBeUndefined();
  });

  it('answers 413 for a body over the limit, declared or chunked, without passing it on whole', async () => {
    const seen: Seen[] = [];
    const via = await follower(await writer(seen), 64);
    const declared = await send(`${via}/v1/daemons`, 'x'.repeat(65), { 'content-length': '65' });
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.text)).toMatchObject({ error: { code: 'payload_too_large' } });
    const chunked = await send(`${via}/v1/daemons`, 'y'.repeat(1000), { 'transfer-encoding': 'chunked' });
    expect(chunked.status).toBe(413);
    expect(seen.filter((s) => s.body.length > 64)).toHaveLength(0);
  });

  it('answers 502 control_plane_unavailable when the writer cannot be reached', async () => {
    const gone = await listen(createServer());
    const closing = servers.pop()!;
    await new Promise((resolve) => closing.close(resolve));
    const via = await follower(gone);
    const answer = await send(`${via}/v1/daemons`, '{}');
    expect(answer.status).toBe(502);
    expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'control_plane_unavailable' } });
  });
});
