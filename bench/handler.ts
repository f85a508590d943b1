/**
 * The one WHATWG handler every path of the Node benchmarks serves (bench/node.bench.ts): the
 * sideband daemon (`listen()`), the node:http baseline (through a minimal adapter) and the
 * daemon side of the bare-WebSocket baseline all run exactly this.
 *
 *   GET  /small         100-byte text body
 *   GET  /bytes?size=N  N bytes, streamed in 64 KiB chunks
 *   POST /sink          reads the body, answers `{"length": N}`
 */
export const SMALL_BODY = 'x'.repeat(100);
const CHUNK = new Uint8Array(64 * 1024).fill(7);

export async function benchHandler(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname === '/small') return new Response(SMALL_BODY, { headers: { 'content-type': 'text/plain' } });
  if (url.pathname === '/bytes') {
    const size = Number(url.searchParams.get('size'));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          if (sent >= size) return controller.close();
          const n = Math.min(CHUNK.length, size - sent);
          // A fresh copy per chunk: a consumer may hold or transfer what it was given.
          controller.enqueue(CHUNK.slice(0, n));
          sent += n;
        },
      },
      { highWaterMark: 0 },
    );
    return new Response(body, { headers: { 'content-type': 'application/octet-stream' } });
  }
  if (url.pathname === '/sink' && request.method === 'POST') {
    let length = 0;
    if (request.body) for await (const chunk of request.body) length += chunk.byteLength;
    return Response.json({ length });
  }
  return new Response('not found', { status: 404 });
}
