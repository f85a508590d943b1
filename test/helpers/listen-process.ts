// Forked by the HTTP memory test: a daemon served by listen() in its own process, so its memory
// can be measured alone. GET /bytes?size=N&seed=S streams pattern bytes (hashing what it sent),
// POST /sink hashes an upload.
import { createHash } from 'node:crypto';
import { fromBase64Url } from '../../protocol/bytes.js';
import { listen } from '../../daemon/listen.js';
import type { Listener } from '../../daemon/listen-types.js';
import { identityFromSeed } from '../../daemon/identity.js';
import { serveParent, settledMemory } from './child-ipc.js';
import { fillPattern, hashBody } from './http-fixture.js';
import { MemoryPeak } from './memory-peak.js';

let server: Listener | undefined;
const peak = new MemoryPeak();
let lastSent: { sha256: string; length: number } | undefined;

function download(size: number, seed: number): Response {
  const hash = createHash('sha256');
  let offset = 0;
  lastSent = undefined;
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (offset >= size) {
          lastSent = { sha256: hash.digest('hex'), length: offset };
          return controller.close();
        }
        const chunk = new Uint8Array(Math.min(64 * 1024, size - offset));
        fillPattern(chunk, seed, offset);
        hash.update(chunk);
        offset += chunk.length;
        controller.enqueue(chunk);
      },
    },
    { highWaterMark: 0 },
  );
  return new Response(body);
}

async function handler(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname === '/bytes') return download(Number(url.searchParams.get('size')), Number(url.searchParams.get('seed')));
  if (url.pathname === '/sink') return Response.json(await hashBody(request.body));
  return new Response('not found', { status: 404 });
}

serveParent(
  {
    async start(payload) {
      const { relay, apiKey, seed } = payload as { relay: string; apiKey: string; seed: string };
      server = await listen({ relay, apiKey, identity: identityFromSeed(fromBase64Url(seed)), fetch: handler });
      return { daemonId: server.daemonId };
    },
    peakStart: () => peak.start(),
    peakStop: () => peak.stop(),
    lastSent: () => lastSent,
    memory: () => settledMemory(),
  },
  async () => {
    await server?.close();
  },
);
