/**
 * Soak: many small requests through a real relay to a daemon in a process of its own, whose
 * heap is measured after forced GC at the first checkpoint and at the end. Memory per served
 * request must not grow (hardening issue: ~8.9 KB per request was kept alive by an abort
 * listener on a long-lived signal, ~9 GB per million requests).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SidebandClient } from '../client/connect.js';
import { startChildStack } from './helpers/child-stack.js';
import { forkChild, type ChildHandle, type MemorySample } from './helpers/child-ipc.js';
import { checkNoLeakedHandles } from './helpers/leak-check.js';

const TOTAL = Number(process.env.SOAK_REQUESTS ?? 200_000);
const CHECKPOINT = Math.min(20_000, TOTAL / 4);
const CONCURRENCY = 64;
/** Growth of the daemon's settled heap per request between the checkpoint and the end. */
const MAX_BYTES_PER_REQUEST = 200;

describe('e2e: daemon memory under a soak of small requests', () => {
  checkNoLeakedHandles(5_000);
  let relay: ChildHandle;
  let daemon: ChildHandle;
  let client: SidebandClient;

  beforeAll(async () => {
    relay = forkChild('./relay-process.ts');
    daemon = forkChild('./listen-process.ts');
    client = await startChildStack(relay, daemon);
  });

  afterAll(async () => {
    await client?.close();
    await daemon?.stop();
    await relay?.stop();
  });

  /** Runs requests `from`..`to` (exclusive), CONCURRENCY at a time; each must answer 16 bytes. */
  async function requests(from: number, to: number): Promise<void> {
    let next = from;
    const worker = async (): Promise<void> => {
      while (next < to) {
        next++;
        const res = await client.fetch('/bytes?size=16&seed=1');
        const body = await res.arrayBuffer();
        if (res.status !== 200 || body.byteLength !== 16) throw new Error(`request failed: ${res.status}, ${body.byteLength} bytes`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  }

  it(`${TOTAL} requests: the daemon's heap after GC grows < ${MAX_BYTES_PER_REQUEST} B per request`, async () => {
    const started = Date.now();
    await requests(0, CHECKPOINT);
    const first = await daemon.call<MemorySample>('memory');
    await requests(CHECKPOINT, TOTAL);
    const last = await daemon.call<MemorySample>('memory');
    const ms = Date.now() - started;
    const perRequest = (last.heapUsed - first.heapUsed) / (TOTAL - CHECKPOINT);
    console.log(
      `[daemon-soak] ${TOTAL} requests in ${ms} ms (${Math.round(TOTAL / (ms / 1000))}/s, concurrency ${CONCURRENCY}); ` +
        `daemon heap after GC ${(first.heapUsed / 1048576).toFixed(1)} MiB at ${CHECKPOINT}, ${(last.heapUsed / 1048576).toFixed(1)} MiB at ${TOTAL}: ${perRequest.toFixed(1)} B/request`,
    );
    expect(perRequest).toBeLessThan(MAX_BYTES_PER_REQUEST);
  }, 480_000);
});
