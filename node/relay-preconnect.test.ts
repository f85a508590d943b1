import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { RelayPreconnect } from './relay-preconnect.js';
import { openRelaySocket } from './relay-socket.js';

let server: Server | undefined;

// A self-signed certificate for localhost, made for this test only (openssl req -x509, P-256,
// 100 years): nothing trusts it, which is the point of the wss test.
const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgbiL8aBOd0XVTQ9nK
LpUqYEbwe5nHYliDpKoSZOkzj9ahRANCAAQ/WME11tOz+PRPlKT1jiZbhhAWTPxm
Egx2H8/qC3OUiF4Bqi55EjygRGIlngbHXlsY2BDD2kVVIHj3WEnrCK7U
-----END PRIVATE KEY-----`;
const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBmjCCAUGgAwIBAgIUfqykTK/RoYUEEWK2HicBYooXCn0wCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEzMDE4MDUzNFoYDzIxMjYxMTA2
MTgwNTM0WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAQ/WME11tOz+PRPlKT1jiZbhhAWTPxmEgx2H8/qC3OUiF4Bqi55Ejyg
RGIlngbHXlsY2BDD2kVVIHj3WEnrCK7Uo28wbTAdBgNVHQ4EFgQUcRm25Fet4isF
qylRaOm0laW8pVEwHwYDVR0jBBgwFoAUcRm25Fet4isFqylRaOm0laW8pVEwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI
zj0EAwIDRwAwRAIgQSUGw+QF08PjUZI7yOQX6mCmiX9gFAmNkw/cE31PQyACIFtO
3qUesM7RMLXscwYD6nbHMWjQnbLUq/GCLFInHxOl
-----END CERTIFICATE-----`;

/** An HTTP server that upgrades every request on /v1/connect; records each TCP connection. */
async function relayLike(): Promise<{ url: string; connections: Socket[]; nextConnection: () => Promise<Socket> }> {
  const wss = new WebSocketServer({ noServer: true });
  const connections: Socket[] = [];
  server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => ws.send(new Uint8Array([1]))));
  server.on('connection', (socket: Socket) => connections.push(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/v1/connect`;
  return { url, connections, nextConnection: async () => ((await once(server!, 'connection')) as [Socket])[0] };
}

afterEach(() => {
  server?.closeAllConnections();
  server?.close();
  server = undefined;
});

describe('RelayPreconnect', () => {
  it('connects ahead, and the upgrade goes over that connection', async () => {
    const { url, connections, nextConnection } = await relayLike();
    const pre = new RelayPreconnect();
    const accepted = nextConnection();
    pre.prepare(url, new AbortController().signal);
    await accepted; // the server saw the connection before any token existed
    const ws = await openRelaySocket(url, 'token', { socket: pre.take(url) });
    const message = once(ws, 'message');
    ws.resume();
    expect(new Uint8Array((await message)[0] as Buffer)).toEqual(new Uint8Array([1]));
    expect(connections).toHaveLength(1);
    ws.terminate();
  });

  it('holds one connection: a newer prepare, an abort or discard() closes the unused one', async () => {
    const { url, nextConnection } = await relayLike();
    const pre = new RelayPreconnect();
    const first = nextConnection();
    pre.prepare(url, new AbortController().signal);
    const firstClosed = once(await first, 'close');
    const second = nextConnection();
    pre.prepare(url, new AbortController().signal);
    await firstClosed;
    const secondClosed = once(await second, 'close');
    pre.discard();
    await secondClosed;
    expect(pre.take(url)).toBeUndefined();

    const controller = new AbortController();
    const third = nextConnection();
    pre.prepare(url, controller.signal);
    const thirdClosed = once(await third, 'close');
    controller.abort();
    await thirdClosed;
    expect(pre.take(url)).toBeUndefined();
  });

  it('gives no connection for another URL, an aborted attempt, or one older than maxAgeMs', async () => {
    const { url, nextConnection } = await relayLike();
    let now = 0;
    const pre = new RelayPreconnect({ maxAgeMs: 100, now: () => now });
    const accepted = nextConnection();
    pre.prepare(url, new AbortController().signal);
    const closed = once(await accepted, 'close');
    expect(pre.take(`${url}?other`)).toBeUndefined();
    now = 101;
    expect(pre.take(url)).toBeUndefined();
    await closed; // the stale one was closed, not leaked

    const aborted = new AbortController();
    aborted.abort();
    pre.prepare(url, aborted.signal);
    expect(pre.take(url)).toBeUndefined();
    pre.prepare('http://127.0.0.1:1/', new AbortController().signal); // not a ws(s) URL: nothing to prepare
    expect(pre.take('http://127.0.0.1:1/')).toBeUndefined();
  });

  it('connects one turn after prepare, and a take before that cancels the connection', async () => {
    const { url, connections } = await relayLike();
    const pre = new RelayPreconnect();
    pre.prepare(url, new AbortController().signal);
    expect(pre.take(url)).toBeUndefined();
    // Were the connection still started, the server would see it before this second one.
    const probe = connect({ host: '127.0.0.1', port: Number(new URL(url).port) });
    await once(server!, 'connection');
    expect(connections).toHaveLength(1);
    probe.destroy();
  });

  it('swallows the error of a connection that failed before it was taken', async () => {
    const pre = new RelayPreconnect();
    const refused = 'ws://127.0.0.1:1/v1/connect';
    pre.prepare(refused, new AbortController().signal);
    // The prepared socket meets the same refusal; an unhandled 'error' from it would be an
    // uncaught exception, which vitest reports as a failure of the run.
    const probe = connect({ host: '127.0.0.1', port: 1 });
    const [error] = (await once(probe, 'error').catch((e: unknown) => [e])) as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNREFUSED');
    pre.discard();
  });

  it('over wss: sends the host name (SNI) and still checks the certificate', async () => {
    const names: string[] = [];
    const tls: TlsServer = createTlsServer({
      key: TEST_KEY,
      cert: TEST_CERT,
      SNICallback: (name, done) => {
        names.push(name);
        done(null);
      },
    });
    tls.on('tlsClientError', () => {});
    tls.listen(0, 'localhost'); // the address the client's lookup of localhost finds first
    await once(tls, 'listening');
    try {
      const url = `wss://localhost:${(tls.address() as AddressInfo).port}/v1/connect`;
      const pre = new RelayPreconnect();
      const hello = once(tls, 'connection');
      pre.prepare(url, new AbortController().signal);
      await hello;
      const socket = pre.take(url);
      expect(socket).toBeDefined();
      // The relay's certificate is self-signed: the upgrade must fail on it, preconnected or not.
      await expect(openRelaySocket(url, 'token', { socket })).rejects.toMatchObject({ code: 'connection_failed', message: expect.stringMatching(/self-signed|self signed/) });
      expect(names).toEqual(['localhost']);
    } finally {
      tls.close();
    }
  });
});
