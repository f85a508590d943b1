import { createHash } from 'node:crypto';
import { fillPattern } from '../helpers/http-fixture.js';

/**
 * The daemon-side fetch handler of the browser tests, with hooks the tests wait on (events,
 * never clocks): token streaming gated by the page's acks, a download that records its abort,
 * a POST that counts executions and can be held open.
 */
export interface TestApp {
  fetch: (request: Request) => Promise<Response>;
  /** How often each POST /api/count id ran. */
  executions: Map<string, number>;
  /** Resolves when a download's request.signal aborted (the tab went away). */
  downloadAborted: Promise<void>;
  /** Resolves once a held POST reached the handler; `release()` lets it answer. */
  heldArrived: Promise<void>;
  release(): void;
}

export function testApp(): TestApp {
  // Whichever of stream and ack comes first creates the gate; the other finds it (bounded by the test's tokens).
  const acks = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  const gate = (key: string) => {
    let entry = acks.get(key);
    if (!entry) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      entry = { promise, resolve };
      acks.set(key, entry);
    }
    return entry;
  };
  const executions = new Map<string, number>();
  let onAbort!: () => void;
  const downloadAborted = new Promise<void>((resolve) => (onAbort = resolve));
  let arrived!: () => void;
  const heldArrived = new Promise<void>((resolve) => (arrived = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const json = (value: unknown, status = 200) => new Response(JSON.stringify(value), { status, headers: { 'content-type': 'application/json' } });

  async function handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const q = url.searchParams;
    switch (url.pathname) {
      case '/api/hello':
        return json({ hello: q.get('name') ?? 'world', cookie: request.headers.get('cookie') });
      case '/api/pattern': {
        const size = Number(q.get('size'));
        const seed = Number(q.get('seed') ?? 1);
        let offset = 0;
        return new Response(
          new ReadableStream<Uint8Array>({
            pull(controller) {
              if (offset >= size) return controller.close();
              const chunk = new Uint8Array(Math.min(64 * 1024, size - offset));
              fillPattern(chunk, seed, offset);
              offset += chunk.length;
              controller.enqueue(chunk);
            },
          }),
          { headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) } },
        );
      }
      case '/api/endless': {
        request.signal.addEventListener('abort', () => onAbort(), { once: true });
        return new Response(
          new ReadableStream<Uint8Array>({
            pull(controller) {
              controller.enqueue(new Uint8Array(64 * 1024));
            },
            cancel() {
              onAbort();
            },
          }),
        );
      }
      case '/api/tokens': {
        const id = q.get('id') ?? 'x';
        const n = Number(q.get('n') ?? 3);
        const encoder = new TextEncoder();
        let i = 0;
        return new Response(
          new ReadableStream<Uint8Array>({
            async pull(controller) {
              if (i >= n) return controller.close();
              if (i > 0) {
                await gate(`${id}:${i}`).promise; // the page saw token i-1
                acks.delete(`${id}:${i}`);
              }
              controller.enqueue(encoder.encode(`token${i} `));
              i++;
            },
          }),
          { headers: { 'content-type': 'text/plain; charset=utf-8' } },
        );
      }
      case '/api/ack': {
        gate(`${q.get('id')}:${q.get('i')}`).resolve();
        return json({ ok: true });
      }
      case '/api/sse': {
        const body = [1, 2, 3].map((n) => `id: ${n}\nevent: tick\ndata: {"n":${n}}\n\n`).join('');
        return new Response(body, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store' } });
      }
      case '/api/upload': {
        const hash = createHash('sha256');
        let bytes = 0;
        if (request.body) {
          for await (const chunk of request.body) {
            hash.update(chunk);
            bytes += chunk.byteLength;
          }
        }
        return json({ bytes, sha256: hash.digest('hex') });
      }
      case '/api/count': {
        const id = q.get('id') ?? '';
        executions.set(id, (executions.get(id) ?? 0) + 1);
        if (q.get('hold') === '1') {
          arrived();
          await released;
        }
        return json({ id, runs: executions.get(id), key: request.headers.get('idempotency-key') });
      }
      default:
        return json({ error: { code: 'not_found' } }, 404);
    }
  }
  return { fetch: handle, executions, downloadAborted, heldArrived, release };
}

/** SHA-256 hex of the pattern body a test expects. */
export function patternSha256(size: number, seed: number): string {
  const hash = createHash('sha256');
  const chunk = new Uint8Array(64 * 1024);
  for (let offset = 0; offset < size; offset += chunk.length) {
    const view = chunk.subarray(0, Math.min(chunk.length, size - offset));
    fillPattern(view, seed, offset);
    hash.update(view);
  }
  return hash.digest('hex');
}
