/**
 * Large bodies with relay and daemon in processes of their own (like e2e-load), so each one's
 * memory is measured alone while 200 MB stream through: flow control must keep every hop
 * bounded, whatever the body size. Also a 50 MB upload, and the daemon dying mid-download.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SidebandClient } from '../client/connect.js';
import { startChildStack } from './helpers/child-stack.js';
import { forkChild, type ChildHandle } from './helpers/child-ipc.js';
import { checkNoLeakedHandles } from './helpers/leak-check.js';
import { fillPattern, hashBody, patternStream } from './helpers/http-fixture.js';
import { MemoryPeak } from './helpers/memory-peak.js';

const MB = 1024 * 1024;
/**
 * Peak growth of heapUsed + external over a settled baseline while the body streams, per
 * process. Measured on this machine (Node 20, x64, 2 cores, 200 MB download at about 40 MB/s):
 * relay 30–39 MiB, daemon 41–43 MiB, client 36–38 MiB; a 20 MB body peaks at 13, 32 and
 * 33 MiB. So it does not grow with the body: it is garbage between young-generation scavenges
 * (every frame is a fresh ciphertext), not retained data. What flow control keeps in flight
 * is at most the client's 4 MiB session window plus 256 KiB of socket buffer per hop. The bound is 80 MiB per process, about 2× the measurement
 * and 2.5× below the body size: a hop that buffered the body would pass it.
 */
const BOUND = { relay: 80 * MB, daemon: 80 * MB, client: 80 * MB } as const;

type Peak = { heapExternal: number; rss: number };
const mib = (n: number) => `${(n / MB).toFixed(1)} MiB`;

describe('e2e: 200 MB through the session with bounded memory in every process', () => {
  checkNoLeakedHandles(5_000);
  let relay: ChildHandle;
  let daemon: ChildHandle;
  let client: SidebandClient;
  const local = new MemoryPeak();

  beforeAll(async () => {
    relay = forkChild('./relay-process.ts');
    daemon = forkChild('./listen-process.ts');
    // A short grace, so a daemon that dies ends its sessions quickly (last test).
    client = await startChildStack(relay, daemon, { graceMs: 1_000 });
  });

  afterAll(async () => {
    local.stop();
    await client?.close();
    await daemon?.stop();
    await relay?.stop();
  });

  async function measured<T>(run: () => Promise<T>): Promise<{ result: T; ms: number; relay: Peak; daemon: Peak; client: Peak }> {
    await Promise.all([relay.call('peakStart'), daemon.call('peakStart'), local.start()]);
    const started = Date.now();
    const result = await run();
    const ms = Date.now() - started;
    const [relayPeak, daemonPeak] = await Promise.all([relay.call<Peak>('peakStop'), daemon.call<Peak>('peakStop')]);
    return { result, ms, relay: relayPeak, daemon: daemonPeak, client: local.stop() };
  }

  const report = (what: string, bytes: number, m: { ms: number; relay: Peak; daemon: Peak; client: Peak }) =>
    console.log(
      `[http-memory] ${what}: ${(bytes / MB).toFixed(0)} MB in ${m.ms} ms (${(bytes / MB / (m.ms / 1000)).toFixed(0)} MB/s); ` +
        `peak heap+external growth relay ${mib(m.relay.heapExternal)}, daemon ${mib(m.daemon.heapExternal)}, client ${mib(m.client.heapExternal)}; ` +
        `rss growth relay ${mib(m.relay.rss)}, daemon ${mib(m.daemon.rss)}, client ${mib(m.client.rss)}`,
    );

  it(`streams a 200 MB response intact while relay, daemon and client each stay under their bound`, { timeout: 120_000 }, async () => {
    const size = 200 * MB;
    const m = await measured(async () => {
      const res = await client.fetch(`/bytes?size=${size}&seed=42`);
      return hashBody(res.body);
    });
    report('200 MB download', size, m);
    const sent = await daemon.call<{ sha256: string; length: number }>('lastSent');
    expect(m.result).toEqual(sent);
    expect(m.result.length).toBe(size);
    expect(m.relay.heapExternal).toBeLessThan(BOUND.relay);
    expect(m.daemon.heapExternal).toBeLessThan(BOUND.daemon);
    expect(m.client.heapExternal).toBeLessThan(BOUND.client);
  });

  it('uploads 50 MB, streamed from the client, intact by SHA-256', { timeout: 60_000 }, async () => {
    const size = 50 * MB;
    const expected = createHash('sha256');
    const chunk = new Uint8Array(MB);
    for (let offset = 0; offset < size; offset += MB) {
      fillPattern(chunk, 9, offset);
      expected.update(chunk);
    }
    const m = await measured(async () => {
      const res = await client.fetch('/sink', { method: 'POST', body: patternStream(size, 9).stream });
      return (await res.json()) as { sha256: string; length: number };
    });
    report('50 MB upload', size, m);
    expect(m.result).toEqual({ sha256: expected.digest('hex'), length: size });
    expect(m.relay.heapExternal).toBeLessThan(BOUND.relay);
    expect(m.daemon.heapExternal).toBeLessThan(BOUND.daemon);
    expect(m.client.heapExternal).toBeLessThan(BOUND.client);
  });

  it('the daemon process dying mid-download makes the reader error, never end as if complete', { timeout: 30_000 }, async () => {
    const res = await client.fetch(`/bytes?size=${4096 * MB}&seed=1`);
    const reader = res.body!.getReader();
    let received = 0;
    while (received < 8 * MB) received += (await reader.read()).value!.length;
    const failure = (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return 'ended as if complete';
        received += value.length;
      }
    })().catch((e: unknown) => e);
    daemon.child.kill('SIGKILL');
    const error = await failure;
    expect(error).toMatchObject({ code: 'session_closed' });
    expect(received).toBeLessThan(4096 * MB);
  });
});
