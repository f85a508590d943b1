/**
 * A real relay process (relay/testing/relay-process.ts, port 0) receiving random WebSocket
 * upgrade requests over raw TCP: random paths, query strings (token, duplicates, junk), headers
 * (Upgrade, Connection, Sec-WebSocket-*, Authorization, Origin, extras) and tokens (valid
 * presence and session tokens, mutated ones, garbage). Each request must be answered with a
 * documented HTTP status (relay/upgrade-gate.ts, sbrp.md §5) — never a 5xx, never a silent close —
 * the process must stay up, /healthz must stay 200, and no token may appear in its output
 * (sbrp.md §4). Fixed seed in `npm test`; SIDEBAND_FUZZ_RUNS=N for a long run.
 */
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelayProcess, type RelayProcess } from '../relay/testing/relay-process.js';
import { ControlPlaneClient } from '../node/control-plane-client.js';
import { generateIdentity } from '../daemon/identity.js';
import { toBase64Url } from '../protocol/bytes.js';
import { checkNoLeakedHandles } from './helpers/leak-check.js';
import { FUZZ_TIMEOUT_MS, fuzzParams } from './helpers/fault-fuzz-config.js';

const ADMIN = 'fuzz-upgrade-admin-key-0123456789';
/**
 * What an upgrade (or a plain request to the same few paths) may be answered with: 101 switched,
 * 200 /healthz, 400 bad handshake headers (ws), 401 token, 403 forbidden, 404 path, 405 method,
 * 409 sid in use, 426 no upgrade, 429 limits.
 */
const DOCUMENTED = new Set([101, 200, 400, 401, 403, 404, 405, 409, 426, 429]);

/** Sends `request` on a fresh TCP connection; resolves with the status of the first line, or 0 if closed without one. */
function rawRequest(port: number, request: string, timeoutMs = 10_000): Promise<{ status: number; head: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms to:\n${request}`));
    }, timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      const match = /^HTTP\/1\.1 (\d{3}) /.exec(received);
      resolve({ status: match ? Number(match[1]) : 0, head: received.split('\r\n')[0] ?? '' });
    };
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (received.includes('\r\n')) done();
    });
    socket.on('error', () => {}); // a reset after the answer is fine; no answer is caught below
    socket.on('close', done);
    socket.write(request, 'latin1');
  });
}

interface UpgradeRequest {
  method: string;
  path: string;
  query: string;
  upgrade: string;
  connection: string;
  version: string;
  key: string;
  auth: string;
  origin: string;
  extra: [string, string][];
}

const visible = (max: number) => fc.stringMatching(new RegExp(`^[\\x21-\\x7e]{0,${max}}$`));
const headerValue = fc.stringMatching(/^[\x21-\x7e][\x20-\x7e]{0,60}$/);
const headerName = fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9-]{0,20}$/);

describe('fuzz: relay upgrade requests over raw TCP', () => {
  checkNoLeakedHandles();
  let relay: RelayProcess;
  const tokens: string[] = [];

  beforeAll(async () => {
    // A small connection limit and an Origin allowlist, so random batches also meet 429 and 403.
    relay = await startRelayProcess(['--port', '0', '--max-connections', '3', '--allowed-origins', 'http://127.0.0.1:5173'], { SIDEBAND_ADMIN_KEY: ADMIN });
    const cp = new ControlPlaneClient({ baseUrl: relay.url });
    const { daemonId, apiKey } = await cp.registerDaemon(ADMIN, { identityPublicKey: toBase64Url(generateIdentity().publicKey) });
    tokens.push((await cp.presenceToken(apiKey)).token, (await cp.presenceToken(apiKey, { resume: true })).token);
    for (let i = 0; i < 6; i++) tokens.push((await cp.sessionToken(apiKey, daemonId)).token);
  });
  afterAll(async () => {
    await relay?.stop();
  });

  it('answers every random upgrade with a documented status; stays up, /healthz stays 200, logs no token', async () => {
    const token = fc.oneof(
      fc.constantFrom(...tokens),
      fc.tuple(fc.constantFrom(...tokens), fc.nat(), fc.constantFrom('A', '_', '-', '.', '')).map(([t, at, c]) => {
        const i = at % t.length;
        return t.slice(0, i) + c + t.slice(i + 1); // one character changed or removed
      }),
      visible(80),
      fc.constant('x'.repeat(5000)),
    );
    const pct = (s: string): string => encodeURIComponent(s);
    const query = fc.oneof(
      fc.constant(''),
      token.map((t) => `?token=${pct(t)}`),
      fc.tuple(token, token).map(([a, b]) => `?token=${pct(a)}&token=${pct(b)}`),
      fc.tuple(visible(20), visible(20)).map(([k, v]) => `?${pct(k)}=${pct(v)}`),
      visible(60).map((q) => `?${q}`),
      fc.constant('?token=%ZZ&%%'),
    );
    const path = fc.oneof({ weight: 6, arbitrary: fc.constant('/v1/connect') }, { weight: 1, arbitrary: fc.constantFrom('/v1/connect/', '/V1/connect', '/healthz', '/nope', '//v1/connect') });
    const request = fc.record({
      method: fc.oneof({ weight: 6, arbitrary: fc.constant('GET') }, { weight: 1, arbitrary: fc.constantFrom('POST', 'HEAD', 'PUT', 'OPTIONS') }),
      path,
      query,
      upgrade: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('websocket', 'WebSocket') }, { weight: 1, arbitrary: fc.constantFrom('h2c', '') }),
      connection: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('Upgrade', 'keep-alive, Upgrade') }, { weight: 1, arbitrary: fc.constantFrom('close', '') }),
      version: fc.oneof({ weight: 6, arbitrary: fc.constant('13') }, { weight: 1, arbitrary: fc.constantFrom('8', 'x', '') }),
      key: fc.oneof({ weight: 6, arbitrary: fc.constant('dGhlIHNhbXBsZSBub25jZQ==') }, { weight: 1, arbitrary: fc.constant('') }, { weight: 1, arbitrary: visible(30) }),
      auth: fc.oneof(fc.constant(''), token.map((t) => `Bearer ${t}`), token.map((t) => `bearer  ${t}`), fc.constant('Basic YTpi'), headerValue),
      origin: fc.oneof({ weight: 3, arbitrary: fc.constant('') }, { weight: 3, arbitrary: fc.constant('http://127.0.0.1:5173') }, { weight: 1, arbitrary: headerValue }),
      extra: fc.array(fc.tuple(headerName, headerValue), { maxLength: 4 }),
    });
    const seen = new Set<number>();
    const answer = async (r: UpgradeRequest): Promise<void> => {
      const lines = [`${r.method} ${r.path}${r.query} HTTP/1.1`, `Host: 127.0.0.1:${relay.port}`];
      if (r.upgrade) lines.push(`Upgrade: ${r.upgrade}`);
      if (r.connection) lines.push(`Connection: ${r.connection}`);
      if (r.version) lines.push(`Sec-WebSocket-Version: ${r.version}`);
      if (r.key) lines.push(`Sec-WebSocket-Key: ${r.key}`);
      if (r.auth) lines.push(`Authorization: ${r.auth}`);
      if (r.origin) lines.push(`Origin: ${r.origin}`);
      for (const [name, value] of r.extra) {
        if (/^(content-length|transfer-encoding|host)$/i.test(name)) continue; // framing headers would need a body
        lines.push(`${name}: ${value}`);
      }
      const { status, head } = await rawRequest(relay.port, `${lines.join('\r\n')}\r\n\r\n`);
      seen.add(status);
      expect(DOCUMENTED.has(status), `answer "${head}" to:\n${lines.join('\n')}`).toBe(true);
      expect(relay.child.exitCode).toBeNull();
    };
    await fc.assert(
      fc.asyncProperty(fc.array(request, { minLength: 1, maxLength: 4 }), async (batch) => {
        await Promise.all(batch.map(answer)); // concurrent, so the connection limit is met too
      }),
      fuzzParams(150),
    );
    // The generator reaches past the token check: upgrades are accepted and refused for several reasons.
    for (const status of [101, 401, 403, 404, 426]) expect(seen, `statuses seen: ${[...seen].join(' ')}`).toContain(status);
    expect(relay.child.exitCode).toBeNull();
    expect((await fetch(`${relay.url}/healthz`)).status).toBe(200);
    const { stdout, stderr } = relay.output();
    for (const t of tokens) {
      expect(stdout.includes(t), 'a token in stdout').toBe(false);
      expect(stderr.includes(t), 'a token in stderr').toBe(false);
    }
  }, FUZZ_TIMEOUT_MS);
});
