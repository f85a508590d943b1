/**
 * HTTP over the session under load, with the relay's default limits: many concurrent bodies
 * checked by SHA-256, a reader that stops, and small requests beside a large download.
 * Everything in this process; memory per process: e2e-http-memory.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkNoLeakedHandles } from './helpers/leak-check.js';
import { hashBody, patternBytes, patternStream, sha256, startHttpFixture, type HttpFixture } from './helpers/http-fixture.js';

const MB = 1024 * 1024;
/** Bytes the download producers have generated, by seed: shows how far ahead of the reader a producer got. */
const produced = new Map<number, () => number>();

async function handler(request: Request): Promise<Response> {
  const url = new URL(request.url);
  const size = Number(url.searchParams.get('size') ?? 0);
  const seed = Number(url.searchParams.get('seed') ?? 0);
  switch (url.pathname) {
    case '/bytes': {
      const body = patternStream(size, seed);
      produced.set(seed, body.produced);
      return new Response(body.stream, { headers: { 'content-type': 'application/octet-stream' } });
    }
    case '/sink': {
      const { sha256: hash, length } = await hashBody(request.body);
      return Response.json({ sha256: hash, length });
    }
    case '/echo':
      return new Response(request.body);
    case '/small':
      return Response.json({ at: Date.now() });
    default:
      return new Response('not found', { status: 404 });
  }
}

/** 200 requests: sizes from 0 B to 5 MB, a third each upload, download and both ways. */
function plan(): { kind: 'upload' | 'download' | 'echo'; size: number; seed: number }[] {
  const fixed = [0, 1, 100, 16 * 1024 - 1, 16 * 1024, 16 * 1024 + 1, 64 * 1024, 256 * 1024, MB, 5 * MB];
  let state = 12345;
  const random = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32);
  return Array.from({ length: 200 }, (_, i) => {
    const kind = (['upload', 'download', 'echo'] as const)[i % 3]!;
    // Mostly small (log-uniform up to 1 MB), every 25th one 5 MB, and the edge sizes above.
    const size = i < fixed.length * 3 ? fixed[Math.floor(i / 3)]! : i % 25 === 0 ? 5 * MB : Math.floor(Math.exp(random() * Math.log(MB)));
    return { kind, size, seed: 1000 + i };
  });
}

describe('e2e: HTTP over the session under load (default relay limits)', () => {
  checkNoLeakedHandles();
  let h: HttpFixture;

  beforeAll(async () => {
    h = await startHttpFixture({ fetch: handler });
  });
  afterAll(async () => {
    await h.close();
  });

  it('200 concurrent requests of 0 B to 5 MB, uploads and downloads, each intact by SHA-256', async () => {
    const client = h.client();
    await client.ready();
    const requests = plan();
    const total = requests.reduce((sum, r) => sum + (r.kind === 'echo' ? 2 : 1) * r.size, 0);
    const started = Date.now();
    const results = await Promise.all(
      requests.map(async ({ kind, size, seed }) => {
        if (kind === 'download') {
          const res = await client.fetch(`/bytes?size=${size}&seed=${seed}`);
          const got = await hashBody(res.body);
          return { ok: got.length === size && got.sha256 === sha256(patternBytes(size, seed)), kind, size };
        }
        const body = patternBytes(size, seed);
        const expected = sha256(body);
        if (kind === 'upload') {
          const res = await client.fetch('/sink', { method: 'POST', body });
          const got = (await res.json()) as { sha256: string; length: number };
          return { ok: got.length === size && got.sha256 === expected, kind, size };
        }
        const res = await client.fetch('/echo', { method: 'POST', body });
        const got = await hashBody(res.body);
        return { ok: got.length === size && got.sha256 === expected, kind, size };
      }),
    );
    const ms = Date.now() - started;
    console.log(`[http-load] 200 concurrent requests, ${(total / MB).toFixed(1)} MB of bodies, in ${ms} ms (${(total / MB / (ms / 1000)).toFixed(1)} MB/s through relay, both ends in one process)`);
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(results.filter((r) => r.size === 0).length).toBeGreaterThanOrEqual(3);
    expect(results.filter((r) => r.size === 5 * MB).length).toBeGreaterThanOrEqual(9);
  });

  it('a reader that pauses for seconds holds the producer at the windows, then resumes with nothing lost', async () => {
    const client = h.client();
    const size = 24 * MB;
    const seed = 77;
    const res = await client.fetch(`/bytes?size=${size}&seed=${seed}`);
    const reader = res.body!.getReader();
    const hash = createHash('sha256');
    let read = 0;
    while (read < 2 * MB) {
      const { value } = await reader.read();
      hash.update(value!);
      read += value!.length;
    }
    await new Promise((resolve) => setTimeout(resolve, 2_500)); // the reader stops
    const ahead = produced.get(seed)!() - read;
    // What can sit between producer and reader: the client's stream window (announced 1 MiB,
    // grown to at most 4 MiB while this download was alone: NODE_RECEIVE_CREDIT), the daemon's
    // write high-water mark (128 KiB) and a chunk or two in the handler's stream.
    console.log(`[http-load] after a 2.5 s pause the producer is ${(ahead / 1024).toFixed(0)} KiB ahead of the reader`);
    expect(ahead).toBeLessThanOrEqual(4.5 * MB);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      hash.update(value);
      read += value.length;
    }
    expect(read).toBe(size);
    expect(hash.digest('hex')).toBe(sha256(patternBytes(size, seed)));
  });

  it('small requests complete while a large download runs (fair interleaving)', async () => {
    const client = h.client();
    await client.ready();
    const size = 64 * MB;
    const big = (async () => {
      const res = await client.fetch(`/bytes?size=${size}&seed=5`);
      const { length } = await hashBody(res.body);
      return { length, doneAt: Date.now() };
    })();
    await new Promise((resolve) => setTimeout(resolve, 100)); // the big one is streaming
    const latencies: number[] = [];
    let lastSmallAt = 0;
    for (let i = 0; i < 20; i++) {
      const started = Date.now();
      const res = await client.fetch('/small');
      await res.json();
      lastSmallAt = Date.now();
      latencies.push(lastSmallAt - started);
    }
    const { length, doneAt } = await big;
    latencies.sort((a, b) => a - b);
    console.log(`[http-load] 20 small requests beside a ${size / MB} MB download: p50 ${latencies[10]} ms, max ${latencies[19]} ms; the download ended ${doneAt - lastSmallAt} ms after the last small one`);
    expect(length).toBe(size);
    expect(lastSmallAt).toBeLessThan(doneAt);
    expect(latencies[10]!).toBeLessThan(200);
  });
});
