import { describe, expect, it } from 'vitest';
import { ed25519 } from '@noble/curves/ed25519.js';
import { toBase64Url } from '../protocol/bytes.js';
import { startRelay } from '../relay/relay-server.js';
import { ControlPlaneClient } from './control-plane-client.js';
import { keepAliveAgents } from './keep-alive-transport.js';

const json = (status: number, body: unknown): Response => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('ControlPlaneClient', () => {
  it('sends the bearer and JSON body, and returns typed fields', async () => {
    const seen: { url: string; auth: string | null; body: unknown }[] = [];
    const client = new ControlPlaneClient({
      baseUrl: 'http://relay.test/base',
      fetch: async (input, init) => {
        const request = new Request(input, init);
        seen.push({ url: request.url, auth: request.headers.get('authorization'), body: await request.json() });
        return json(200, { token: 't', daemonId: 'd1', expiresAt: 123 });
      },
    });
    expect(await client.presenceToken('key', { resume: false })).toEqual({ token: 't', daemonId: 'd1', expiresAt: 123 });
    await client.presenceToken('key', { resume: true });
    expect(seen).toEqual([
      { url: 'http://relay.test/base/v1/tokens/presence', auth: 'Bearer key', body: { resume: false } },
      { url: 'http://relay.test/base/v1/tokens/presence', auth: 'Bearer key', body: { resume: true } },
    ]);
  });

  it("carries the server's error code and the HTTP status", async () => {
    const client = new ControlPlaneClient({ baseUrl: 'http://relay.test', fetch: async () => json(404, { error: { code: 'daemon_not_found', message: 'no' } }) });
    await expect(client.sessionToken('k', 'd')).rejects.toMatchObject({ name: 'ControlPlaneError', code: 'daemon_not_found', status: 404 });
    const bare = new ControlPlaneClient({ baseUrl: 'http://relay.test', fetch: async () => new Response('oops', { status: 502 }) });
    await expect(bare.sessionToken('k', 'd')).rejects.toMatchObject({ code: 'http_502', status: 502 });
  });

  it('rejects malformed success bodies with bad_response', async () => {
    const client = new ControlPlaneClient({ baseUrl: 'http://relay.test', fetch: async () => json(200, { token: 5 }) });
    await expect(client.presenceToken('k')).rejects.toMatchObject({ code: 'bad_response' });
    const notJson = new ControlPlaneClient({ baseUrl: 'http://relay.test', fetch: async () => new Response('<html>') });
    await expect(notJson.presenceToken('k')).rejects.toMatchObject({ code: 'bad_response' });
  });

  it('times out, reports network errors, and honours an abort signal', async () => {
    const hang: typeof fetch = (_input, init) =>
      new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(new Error('aborted'))));
    await expect(new ControlPlaneClient({ baseUrl: 'http://relay.test', fetch: hang, timeoutMs: 20 }).presenceToken('k')).rejects.toMatchObject({ code: 'timeout', status: 0 });
    const controller = new AbortController();
    const pending = new ControlPlaneClient({ baseUrl: 'http://relay.test', fetch: hang }).presenceToken('k', {}, controller.signal);
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'aborted' });
    const down = new ControlPlaneClient({ baseUrl: 'http://relay.test', fetch: async () => Promise.reject(new TypeError('fetch failed')) });
    await expect(down.presenceToken('k')).rejects.toMatchObject({ code: 'network_error' });
  });

  it('talks to a real relay by default (node:http keep-alive): register, then fresh sids on one connection', async () => {
    const relay = await startRelay({ port: 0 });
    const idle = () => Object.values(keepAliveAgents['http:'].freeSockets).flat();
    try {
      const cp = new ControlPlaneClient({ baseUrl: relay.url });
      const { daemonId, apiKey } = await cp.registerDaemon(relay.adminKey, { identityPublicKey: toBase64Url(ed25519.getPublicKey(ed25519.utils.randomSecretKey())) });
      const [socket] = idle();
      const first = await cp.sessionToken(apiKey, daemonId);
      const second = await new ControlPlaneClient({ baseUrl: relay.url }).sessionToken(apiKey, daemonId);
      expect(first.daemonId).toBe(daemonId);
      expect(first.sid).not.toBe(second.sid);
      // Every call went over the connection the first one opened, whichever client made it.
      expect(socket).toBeDefined();
      expect(idle()).toEqual([socket]);
      await expect(cp.sessionToken(apiKey, 'dmn_000000000000000000000000')).rejects.toMatchObject({ code: 'forbidden', status: 403 });
    } finally {
      await relay.close();
    }
  });

  it('refuses a base URL that is not http(s)', () => {
    expect(() => new ControlPlaneClient({ baseUrl: 'ftp://x' })).toThrow(expect.objectContaining({ code: 'invalid_config' }));
    expect(() => new ControlPlaneClient({ baseUrl: 'not a url' })).toThrow(expect.objectContaining({ code: 'invalid_config' }));
  });
});
