import type { FetchHandler } from './serve-stream.js';

export interface DemoAppOptions {
  /** Interval between `/api/clock` ticks (default 1 s). */
  tickMs?: number;
  /** Ticks before `/api/clock` ends (default 60; `?n=` asks for fewer). */
  maxTicks?: number;
  now?: () => Date;
}

const json = (value: unknown, status = 200): Response => Response.json(value, { status, headers: { 'cache-control': 'no-store' } });

/**
 * The daemon CLI's built-in app when neither `--proxy` nor `--echo` is given. A plain WHATWG
 * handler, no framework, to show the daemon's whole contract (style.md §2):
 *
 *   GET  /api/hello?name=x   → {"hello":"x"}
 *   POST /api/echo           → the request body streamed back, same content-type
 *   GET  /api/clock?n=5      → Server-Sent Events, one `tick` per second, n ticks
 *   anything else            → 404 {"error":{"code":"not_found"}}
 */
export function demoApp(options: DemoAppOptions = {}): FetchHandler {
  const tickMs = options.tickMs ?? 1000;
  const maxTicks = options.maxTicks ?? 60;
  const now = options.now ?? (() => new Date());
  return (request) => {
    const url = new URL(request.url);
    const route = `${request.method} ${url.pathname}`;
    switch (route) {
      case 'GET /api/hello':
        return json({ hello: url.searchParams.get('name') ?? 'world' });
      case 'POST /api/echo':
        return new Response(request.body, { headers: { 'content-type': request.headers.get('content-type') ?? 'application/octet-stream' } });
      case 'GET /api/clock': {
        const asked = Number.parseInt(url.searchParams.get('n') ?? '', 10);
        const ticks = Number.isInteger(asked) && asked > 0 ? Math.min(asked, maxTicks) : maxTicks;
        return new Response(clock(ticks, tickMs, now, request.signal), {
          headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store' },
        });
      }
      default:
        return json({ error: { code: 'not_found', message: `${route} is not served here` } }, 404);
    }
  };
}

/** One SSE `tick` event per interval; stops early when the client goes away (`signal`). */
function clock(ticks: number, tickMs: number, now: () => Date, signal: AbortSignal): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let sent = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (signal.aborted) return controller.close(); // nobody reads any more
      return new Promise<void>((resolve) => {
        const emit = () => {
          signal.removeEventListener('abort', onAbort);
          controller.enqueue(encoder.encode(`event: tick\nid: ${sent}\ndata: ${JSON.stringify({ n: sent, time: now().toISOString() })}\n\n`));
          if (++sent >= ticks) controller.close();
          resolve();
        };
        const onAbort = () => {
          clearTimeout(timer);
          resolve();
        };
        signal.addEventListener('abort', onAbort, { once: true });
        timer = setTimeout(emit, sent === 0 ? 0 : tickMs);
      });
    },
    cancel() {
      clearTimeout(timer);
    },
  });
}
