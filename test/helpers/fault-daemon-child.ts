// Forked by the fault suites (test/fault-*.test.ts): a daemon served by listen() in its own
// process, so a test can SIGKILL or SIGSTOP it mid-request. Reports each request that reaches a
// handler, and how each upload ended, as unsolicited IPC messages ({ event, ... }) so the parent
// waits on events rather than polling. Routes:
//   GET  /ok                 {"ok":true,"pid":…}
//   GET  /bytes?size=N&seed=S  N pattern bytes (test/helpers/http-fixture.ts), streamed on demand
//   GET  /hold               never answers (a request in flight at the daemon)
//   POST /sink               hashes the upload: {"sha256","length"}
import { fromBase64Url } from '../../protocol/bytes.js';
import { listen } from '../../daemon/listen.js';
import type { Listener } from '../../daemon/listen-types.js';
import { identityFromSeed } from '../../daemon/identity.js';
import { serveParent } from './child-ipc.js';
import { hashBody, patternStream } from './http-fixture.js';

let server: Listener | undefined;

const report = (message: Record<string, unknown>): void => void process.send?.(message);

async function handler(request: Request): Promise<Response> {
  const url = new URL(request.url);
  report({ event: 'request', path: url.pathname });
  if (url.pathname === '/ok') return Response.json({ ok: true, pid: process.pid });
  if (url.pathname === '/bytes') return new Response(patternStream(Number(url.searchParams.get('size')), Number(url.searchParams.get('seed') ?? 1)).stream);
  if (url.pathname === '/hold') return new Promise<Response>(() => {});
  if (url.pathname === '/sink') {
    try {
      const result = await hashBody(request.body);
      report({ event: 'upload', outcome: 'complete', ...result });
      return Response.json(result);
    } catch (error) {
      report({ event: 'upload', outcome: 'error', code: (error as { code?: string }).code ?? String(error) });
      throw error;
    }
  }
  return new Response('not found', { status: 404 });
}

serveParent(
  {
    async start(payload) {
      const { relay, apiKey, seed } = payload as { relay: string; apiKey: string; seed: string };
      server = await listen({ relay, apiKey, identity: identityFromSeed(fromBase64Url(seed)), fetch: handler, reconnect: { minDelayMs: 20, maxDelayMs: 200, jitter: 'none' } });
      server.on('session_open', ({ sessionId }) => report({ event: 'session_open', sessionId: String(sessionId) }));
      server.on('session_closed', ({ sessionId, reason, error }) =>
        report({ event: 'session_closed', sessionId: String(sessionId), reason, code: (error as { code?: string } | undefined)?.code }),
      );
      return { daemonId: server.daemonId, pid: process.pid };
    },
  },
  async () => {
    await server?.close();
  },
);
