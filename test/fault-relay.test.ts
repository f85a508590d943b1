/**
 * Faults of the relay process (the CLI as a real child, SQLite data dir): SIGKILL in the middle of
 * a download and of an upload, SIGSTOP/SIGCONT in the middle of a download, and a restart with
 * the same data dir on the same port. The daemon runs listen() in a child process, clients are
 * the Node client (client/connect.ts). Each case checks what every session sees: a body cut by
 * the crash ends in an error at the client (never a short body reported complete), the daemon's
 * handler never sees a short upload end cleanly, requests in flight on other sessions fail
 * loudly too, and after the restart every client reconnects on its own and new requests succeed.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SidebandClient } from '../client/connect.js';
import { checkNoLeakedHandles } from './helpers/leak-check.js';
import { fillPattern, hashBody, patternBytes, sha256 } from './helpers/http-fixture.js';
import { startFaultStack, type DaemonChild, type FaultDaemonReg, type FaultStack } from './helpers/fault-stack.js';

const MiB = 1024 * 1024;

/** What a body read ended with: complete (hash, length) or the error's code. */
type Outcome = { sha256: string; length: number } | { error: string };
async function readOutcome(body: ReadableStream<Uint8Array> | null, onProgress?: (received: number) => void): Promise<Outcome> {
  return hashBody(body, onProgress).catch((error: { code?: string; message?: string }) => ({ error: error.code ?? error.message ?? String(error) }));
}

/** An upload of `size` pattern bytes that calls `at(offset)` once it has produced `threshold` bytes. */
function uploadBody(size: number, threshold: number, at: () => void): ReadableStream<Uint8Array> {
  let offset = 0;
  let fired = false;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (offset >= size) return controller.close();
        const chunk = new Uint8Array(Math.min(64 * 1024, size - offset));
        fillPattern(chunk, 5, offset);
        offset += chunk.length;
        controller.enqueue(chunk);
        if (!fired && offset >= threshold) {
          fired = true;
          at();
        }
      },
    },
    { highWaterMark: 0 },
  );
}

describe('fault: relay process killed, stopped and restarted', () => {
  checkNoLeakedHandles();
  let stack: FaultStack;
  let reg: FaultDaemonReg;
  let daemon: DaemonChild;
  let a: SidebandClient;
  let b: SidebandClient;

  beforeEach(async () => {
    stack = await startFaultStack();
    reg = await stack.registerDaemon();
    daemon = await stack.spawnDaemon(reg);
    a = stack.client(reg);
    b = stack.client(reg); // a bystander session of the same daemon
    await Promise.all([a.ready(), b.ready()]);
  });
  afterEach(async () => {
    await stack.close();
  });

  /** After the relay came back: both clients reconnect by themselves and requests run intact. */
  async function expectRecovered(): Promise<void> {
    const [ra, rb] = await Promise.all([a.fetch('/ok'), b.fetch('/ok')]);
    expect([ra.status, rb.status]).toEqual([200, 200]);
    expect(((await ra.json()) as { pid: number }).pid).toBe(daemon.pid); // the same daemon process, reconnected
    await rb.body?.cancel();
    const size = 3 * MiB + 17;
    const res = await a.fetch(`/bytes?size=${size}&seed=9`);
    expect(await readOutcome(res.body)).toEqual({ sha256: sha256(patternBytes(size, 9)), length: size });
  }

  it('SIGKILL mid-download: the body errors at the client (never short and complete), the bystander\'s request fails too; a request made during the outage and new ones succeed after a restart on the same data dir', async () => {
    const held = b.fetch('/hold').then(
      () => ({ error: 'answered' }),
      (error: { code?: string }) => ({ error: error.code ?? String(error) }),
    );
    await daemon.next((e) => e.path === '/hold', 'the bystander request at the daemon');
    const size = 256 * MiB; // far beyond every window: the crash always lands mid-body
    const res = await a.fetch(`/bytes?size=${size}&seed=1`);
    expect(res.status).toBe(200);
    let killed: Promise<number | null> | undefined;
    const outcome = await readOutcome(res.body, (received) => {
      if (!killed && received >= 2 * MiB) killed = stack.relay.stop('SIGKILL');
    });
    expect(await killed).toBeNull(); // killed by the signal
    expect(outcome).toEqual({ error: 'session_closed' });
    expect(await held).toEqual({ error: 'session_closed' });
    const opensBefore = daemon.events.filter((e) => e.event === 'session_open').length;
    // Made while the relay is down: it waits for the next session instead of failing or vanishing.
    const duringOutage = a.fetch('/ok');

    await stack.restartRelay();
    expect((await duringOutage).status).toBe(200);
    await expectRecovered();
    expect(daemon.events.filter((e) => e.event === 'session_open').length).toBeGreaterThanOrEqual(opensBefore + 2); // new sessions for a and b
  });

  it('SIGKILL mid-upload: the client\'s request fails, the daemon\'s handler sees its body error (never a short upload ending cleanly); after a restart both clients work', async () => {
    const size = 256 * MiB;
    let killed: Promise<number | null> | undefined;
    const body = uploadBody(size, 4 * MiB, () => (killed = stack.relay.stop('SIGKILL')));
    const upload = a.fetch('/sink', { method: 'POST', body, duplex: 'half' } as RequestInit).then(
      async (res) => ({ status: res.status, body: await res.text() }),
      (error: { code?: string }) => ({ error: error.code ?? String(error) }),
    );
    expect(await upload).toEqual({ error: 'session_closed' });
    expect(await killed).toBeNull();
    await stack.restartRelay();
    await expectRecovered();
    // The daemon's handler saw the upload end: with an error, never "complete" short of the size.
    const ended = await daemon.next((e) => e.event === 'upload', 'the upload to end at the daemon');
    expect(ended).toMatchObject({ outcome: 'error' });
  });

  it('SIGSTOP mid-download, then SIGCONT: the download completes intact and a request made while stopped is answered', async () => {
    const size = 24 * MiB + 5;
    const res = await a.fetch(`/bytes?size=${size}&seed=3`);
    let stopped: Promise<void> | undefined;
    let duringStop: Promise<Response> | undefined;
    const outcome = readOutcome(res.body, (received) => {
      if (stopped || received < 2 * MiB) return;
      stack.relay.child.kill('SIGSTOP');
      duringStop = b.fetch('/ok');
      // The fault under test is the pause itself; its length is not a synchronisation point.
      stopped = new Promise<void>((resolve) => setTimeout(resolve, 1_500)).then(() => void stack.relay.child.kill('SIGCONT'));
    });
    expect(await outcome).toEqual({ sha256: sha256(patternBytes(size, 3)), length: size });
    await stopped;
    expect((await duringStop!).status).toBe(200);
    expect(a.state).toBe('open');
  });
});
