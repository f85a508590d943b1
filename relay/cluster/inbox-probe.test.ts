import { createServer, Socket, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ECHO_FLOOR_MS, InboxProbe } from './inbox-probe.js';

/**
 * The deaf-subscriber deadline after an event-loop stall. The "inbox" is a real loopback socket:
 * publishing the probe writes its echo straight into it, so after the stall the echo sits in the
 * socket unread, exactly as after a long GC pause or a blocking task on a busy relay.
 */

const INTERVAL_MS = 100;
const DEADLINE_MS = Math.max(INTERVAL_MS, ECHO_FLOOR_MS);

/** Blocks this thread (the event loop with it) for `ms`, the way a long synchronous task does. */
function stallEventLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Runs `task` from a timer, as the backplane runs `tick`: the loop's timers phase, which comes
 * before the poll phase that reads sockets.
 */
const fromTimer = (task: () => void): Promise<void> =>
  new Promise((resolve) => setTimeout(() => {
    task();
    resolve();
  }, 0));

/** One event-loop turn: an immediate queued now runs after every immediate queued before it. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Inbox {
  /** The publishing end: what it writes arrives at `subscriber`. */
  publisher: Socket;
  subscriber: Socket;
}

let server: Server | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

async function openInbox(): Promise<Inbox> {
  const accepted = new Promise<Socket>((resolve) => {
    server = createServer(resolve);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const subscriber = new Socket();
  await new Promise<void>((resolve) => subscriber.connect((server!.address() as AddressInfo).port, '127.0.0.1', resolve));
  const publisher = await accepted;
  sockets.push(subscriber, publisher);
  return { publisher, subscriber };
}

describe('inbox probe', () => {
  it('is not declared deaf when the loop stalled past the deadline with the echo already in the socket', async () => {
    const { publisher, subscriber } = await openInbox();
    let deafSpells = 0;
    const probe = new InboxProbe(INTERVAL_MS, () => publisher.write('echo'), () => deafSpells++);
    const echoRead = new Promise<void>((resolve) => subscriber.once('data', () => resolve()));
    subscriber.on('data', () => probe.heard());
    // All in one timer callback, so the loop cannot read the echo before the stall ends.
    await fromTimer(() => {
      stallEventLoop(INTERVAL_MS + 1);
      probe.tick(true); // the probe goes out and its echo is written into the socket
      probe.sent();
      stallEventLoop(DEADLINE_MS + 50); // the echo waits in the socket while the loop is blocked
      probe.tick(true); // the next tick runs before the loop read the socket
    });
    await echoRead;
    await nextTurn();
    expect(deafSpells).toBe(0);
    expect(probe.healthy).toBe(true);
    probe.close();
  });

  it('is declared deaf once when the probe is still unanswered after the loop read its input', async () => {
    let deafSpells = 0;
    const probe = new InboxProbe(INTERVAL_MS, () => true, () => deafSpells++);
    stallEventLoop(INTERVAL_MS + 1);
    probe.tick(true);
    probe.sent();
    stallEventLoop(DEADLINE_MS + 50);
    probe.tick(true);
    probe.tick(true); // a second expired tick before the judgement does not judge twice
    await nextTurn();
    expect(deafSpells).toBe(1);
    expect(probe.healthy).toBe(false);
    probe.close();
  });

  it('runs the deadline from when Redis took the probe, not from when it was queued', async () => {
    let deafSpells = 0;
    const probe = new InboxProbe(INTERVAL_MS, () => true, () => deafSpells++);
    stallEventLoop(INTERVAL_MS + 1);
    probe.tick(true);
    stallEventLoop(DEADLINE_MS + 50); // the publish sat in a stalled loop; Redis acks it only now
    probe.sent();
    probe.tick(true);
    await nextTurn();
    expect(deafSpells).toBe(0);
    expect(probe.healthy).toBe(true);
  });

  it('drops a pending judgement on close', async () => {
    let deafSpells = 0;
    const probe = new InboxProbe(INTERVAL_MS, () => true, () => deafSpells++);
    stallEventLoop(INTERVAL_MS + 1);
    probe.tick(true);
    stallEventLoop(DEADLINE_MS + 50);
    probe.tick(true);
    probe.close();
    probe.close();
    await nextTurn();
    expect(deafSpells).toBe(0);
  });
});
