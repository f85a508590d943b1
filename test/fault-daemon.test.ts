/**
 * Faults of the daemon process (listen() in a child, test/helpers/fault-daemon-child.ts) behind a
 * real relay process: SIGKILL with requests in flight (one waiting for its head, one mid-body),
 * then a new daemon process with the same identity, started within the relay's grace period and
 * after it. Checks what every session sees: the killed daemon's sessions pause, then end loudly
 * (requests fail with session_closed, bodies error, never short and complete); the clients
 * reconnect by themselves with new sessions; a request made while the daemon is away is served
 * once it is back; and a session of another daemon on the same relay never notices. A daemon
 * stopped (SIGSTOP) for a moment and continued loses nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { checkNoLeakedHandles } from './helpers/leak-check.js';
import { hashBody, patternBytes, sha256 } from './helpers/http-fixture.js';
import { nextClientEvent, recordClientEvents, startFaultStack, type DaemonChild, type FaultStack } from './helpers/fault-stack.js';

const MiB = 1024 * 1024;
const LIFECYCLE = ['paused', 'pending', 'resumed', 'disconnected'] as const;

type Outcome = { sha256: string; length: number } | { error: string };
const failure = (error: { code?: string; message?: string }): Outcome => ({ error: error.code ?? error.message ?? String(error) });

describe('fault: daemon process killed mid-request and restarted', () => {
  checkNoLeakedHandles();
  let stack: FaultStack | undefined;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  /**
   * Two clients of daemon 1 with a request each in flight (a body streaming to `a`, a request
   * waiting for its head from `b`), and a client of daemon 2 downloading throughout; SIGKILLs
   * daemon 1 once `a` has 2 MiB. Returns the outcomes as promises.
   */
  async function killMidRequest(graceS: number) {
    stack = await startFaultStack({ graceS });
    const reg = await stack.registerDaemon();
    const other = await stack.registerDaemon();
    const first = await stack.spawnDaemon(reg);
    const otherDaemon = await stack.spawnDaemon(other);
    const a = stack.client(reg);
    const b = stack.client(reg);
    const c = stack.client(other); // another daemon's session on the same relay
    await Promise.all([a.ready(), b.ready(), c.ready()]);
    const seen = { a: recordClientEvents(a, LIFECYCLE), b: recordClientEvents(b, LIFECYCLE), c: recordClientEvents(c, LIFECYCLE) };

    const held: Promise<Outcome> = b.fetch('/hold').then(() => ({ error: 'answered' }), failure);
    await first.next((e) => e.path === '/hold', 'the held request at daemon 1');
    // c downloads through the whole fault, reading at its own pace.
    const otherSize = 16 * MiB + 3;
    const otherDownload: Promise<Outcome> = c.fetch(`/bytes?size=${otherSize}&seed=4`).then((res) => hashBody(res.body), failure);

    const res = await a.fetch(`/bytes?size=${256 * MiB}&seed=1`);
    let killed: Promise<void> | undefined;
    const pausedA = nextClientEvent(a, 'paused');
    const pausedB = nextClientEvent(b, 'paused');
    const download: Promise<Outcome> = hashBody(res.body, (received) => {
      if (!killed && received >= 2 * MiB) killed = first.kill();
    }).catch(failure);
    await Promise.all([pausedA, pausedB]);
    await killed;
    return { stack, reg, first, otherDaemon, a, b, c, seen, held, download, otherDownload, otherSize };
  }

  /** Both clients of the restarted daemon work on new sessions; c never noticed anything. */
  async function expectRecovered(run: Awaited<ReturnType<typeof killMidRequest>>, second: DaemonChild): Promise<void> {
    const { a, b, c, seen, held, download, otherDownload, otherSize } = run;
    expect(await held).toEqual({ error: 'session_closed' });
    expect(await download).toEqual({ error: 'session_closed' });
    const [ra, rb] = await Promise.all([a.fetch('/ok'), b.fetch('/ok')]);
    expect(((await ra.json()) as { pid: number }).pid).toBe(second.pid);
    expect(((await rb.json()) as { pid: number }).pid).toBe(second.pid);
    const size = 2 * MiB + 1;
    const again = await a.fetch(`/bytes?size=${size}&seed=2`);
    expect(await hashBody(again.body)).toEqual({ sha256: sha256(patternBytes(size, 2)), length: size });
    expect(await otherDownload).toEqual({ sha256: sha256(patternBytes(otherSize, 4)), length: otherSize });
    expect(seen.c).toEqual([]);
    expect(c.state).toBe('open');
  }

  it('restarted within grace: sessions pause, then expire as the fresh process cannot resume; in-flight requests fail loudly; clients reconnect to the new process', async () => {
    const run = await killMidRequest(30);
    const expiredA = nextClientEvent(run.a, 'disconnected');
    const second = await run.stack.spawnDaemon(run.reg); // well inside the 30 s grace
    // A new process holds no session state: the relay expires the sessions at once (sbrp.md §4).
    expect((await expiredA).error).toMatchObject({ code: 'session_expired' });
    await expectRecovered(run, second);
    for (const seen of [run.seen.a, run.seen.b]) expect(seen.slice(0, 2)).toEqual(['paused', 'disconnected:session_expired']);
  });

  it('restarted after grace: sessions pause, then expire at the deadline; a request made while the daemon is away is served once it is back', async () => {
    const run = await killMidRequest(1);
    const { a, b } = run;
    // Grace (1 s) runs out with no daemon: both sessions expire, their requests fail.
    await Promise.all([nextClientEvent(a, 'disconnected', (e) => (e.error as { code?: string }).code === 'session_expired'), nextClientEvent(b, 'disconnected', (e) => (e.error as { code?: string }).code === 'session_expired')]);
    expect(await run.held).toEqual({ error: 'session_closed' });
    expect(await run.download).toEqual({ error: 'session_closed' });
    // The daemon is offline now: a new request waits for a session rather than failing or vanishing.
    const offline = nextClientEvent(a, 'disconnected', (e) => (e.error as { code?: string }).code === 'daemon_offline');
    const waiting = a.fetch('/ok');
    await offline;
    const second = await run.stack.spawnDaemon(run.reg);
    const served = await waiting;
    expect(((await served.json()) as { pid: number }).pid).toBe(second.pid);
    await expectRecovered(run, second);
    for (const seen of [run.seen.a, run.seen.b]) expect(seen.slice(0, 2)).toEqual(['paused', 'disconnected:session_expired']);
  });

  it('SIGSTOP mid-download, then SIGCONT: the download completes intact, a request made while stopped is answered, no session notices', async () => {
    stack = await startFaultStack();
    const reg = await stack.registerDaemon();
    const daemon = await stack.spawnDaemon(reg);
    const a = stack.client(reg);
    const b = stack.client(reg);
    await Promise.all([a.ready(), b.ready()]);
    const seen = [...recordClientEvents(a, LIFECYCLE), ...recordClientEvents(b, LIFECYCLE)];
    const size = 24 * MiB + 7;
    const res = await a.fetch(`/bytes?size=${size}&seed=8`);
    let resumed: Promise<void> | undefined;
    let duringStop: Promise<Response> | undefined;
    const download = hashBody(res.body, (received) => {
      if (resumed || received < 2 * MiB) return;
      daemon.handle.child.kill('SIGSTOP');
      duringStop = b.fetch('/ok');
      // The fault under test is the pause itself; its length is not a synchronisation point.
      resumed = new Promise<void>((resolve) => setTimeout(resolve, 1_500)).then(() => void daemon.handle.child.kill('SIGCONT'));
    });
    expect(await download).toEqual({ sha256: sha256(patternBytes(size, 8)), length: size });
    await resumed;
    expect(((await duringStop!.then((r) => r.json())) as { pid: number }).pid).toBe(daemon.pid);
    expect(seen).toEqual([]);
  });
});
