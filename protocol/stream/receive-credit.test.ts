/**
 * Adaptive receive credit (receive-credit.ts, docs/protocol.md §5): a lone download's window
 * grows up to the policy's maximum; it shrinks back to the announced window as soon as another
 * stream is busy; the session window follows. Two real multiplexers back to back, frames
 * delivered asynchronously; windows are read off the CREDIT frames actually sent.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Mux, type MuxOptions } from './mux.js';
import { ReceiveSharing } from './receive-credit.js';
import type { MuxStream } from './mux-stream.js';
import { decodeCombinedCredit, decodeInner, decodeUint32 } from './inner-frame.js';
import { InnerKind } from './stream-codes.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const STREAM_WINDOW = 256 * KiB;
const SESSION_WINDOW = 1 * MiB;

const live: Mux[] = [];
afterEach(() => {
  for (const mux of live.splice(0)) mux.close();
});

/**
 * The client receives; `window(id, stream)` is the receive window in force on stream `id` (0:
 * the session): the announced one plus every CREDIT the client sent, minus the bytes it read.
 * (Sent minus buffered is what was read, once nothing is in flight: tests flush first.)
 */
function pair(client: Partial<MuxOptions>, onStream: (stream: MuxStream) => void) {
  const granted = new Map<number, number>(); // stream id (0: session) → credit granted in all
  const received = new Map<number, number>(); // stream id (0: session) → DATA bytes that reached the client
  const ends: { c?: Mux; d?: Mux } = {};
  let combined = 0;
  let sessionOnly = 0;
  const add = (map: Map<number, number>, id: number, n: number) => map.set(id, (map.get(id) ?? 0) + n);
  ends.c = new Mux({
    role: 'client',
    limits: { streamWindow: STREAM_WINDOW, sessionWindow: SESSION_WINDOW },
    send: (f) => {
      const frame = decodeInner(f);
      if (frame.kind === InnerKind.CREDIT && frame.body.length === 8) {
        const { stream, session } = decodeCombinedCredit(frame.body);
        add(granted, frame.streamId, stream);
        add(granted, 0, session);
        combined++;
      } else if (frame.kind === InnerKind.CREDIT) {
        add(granted, frame.streamId, decodeUint32(frame.body, 'CREDIT'));
        if (frame.streamId === 0) sessionOnly++;
      }
      setImmediate(() => ends.d!.receive(f));
    },
    ...client,
  });
  ends.d = new Mux({
    role: 'daemon',
    onStream,
    send: (f) => {
      const frame = decodeInner(f);
      if (frame.kind === InnerKind.DATA) {
        add(received, frame.streamId, frame.body.length);
        add(received, 0, frame.body.length);
      }
      setImmediate(() => ends.c!.receive(f));
    },
  });
  live.push(ends.c, ends.d);
  ends.c.start();
  ends.d.start();
  /** Credit the sender has left plus bytes sent but not yet read (buffered at the client or in flight): the window in force. */
  const window = (id: number, stream?: MuxStream) => (id === 0 ? SESSION_WINDOW : STREAM_WINDOW) + (granted.get(id) ?? 0) - (received.get(id) ?? 0) + (stream?.bufferedIn ?? 0);
  return { c: ends.c, window, credits: () => ({ combined, sessionOnly }) };
}

async function flush(rounds = 30): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/** A daemon that answers every GET with `size` bytes; paths in `hold` wait for `release` (and its size). */
function downloads(size: number, hold = new Set<string>()) {
  const waiting = new Map<string, MuxStream>();
  const serve = (stream: MuxStream, bytes = size) => {
    stream.respond({ status: 200, headers: [] });
    void stream.write(new Uint8Array(bytes).fill(7)).then(() => stream.end(), () => {});
  };
  return {
    onStream: (stream: MuxStream) => (hold.has(stream.head.path) ? waiting.set(stream.head.path, stream) : serve(stream)),
    release: (path: string, bytes: number) => serve(waiting.get(path)!, bytes),
  };
}

async function readBytes(stream: MuxStream, n: number, onChunk?: () => void): Promise<number> {
  let total = 0;
  while (total < n) {
    const chunk = await stream.read();
    if (!chunk) break;
    total += chunk.length;
    onChunk?.();
  }
  return total;
}

/**
 * Reads `n` bytes of a stream that is alone and checks its window grew to `max`: never above it
 * while reading, and, once nothing is in flight, short of it only by what was read since the
 * last grant (under a quarter of it). Returns the bytes read.
 */
async function readGrowing(stream: MuxStream, n: number, max: number, window: (id: number, stream?: MuxStream) => number): Promise<number> {
  let peak = 0;
  const read = await readBytes(stream, n, () => (peak = Math.max(peak, window(stream.id, stream))));
  expect(peak).toBeLessThanOrEqual(max);
  await flush();
  expect(window(stream.id, stream)).toBeGreaterThan(max - max / 4);
  expect(window(stream.id, stream)).toBeLessThanOrEqual(max);
  return read;
}

const get = (c: Mux, path: string) => c.open({ kind: 'http', method: 'GET', path, headers: [] }, { end: true });

describe('adaptive receive credit (§5)', () => {
  it('without a policy a window never exceeds what was announced', async () => {
    const daemon = downloads(4 * MiB);
    const { c, window } = pair({}, daemon.onStream);
    const s = get(c, '/big');
    let peak = 0;
    expect(await readBytes(s, 4 * MiB, () => (peak = Math.max(peak, window(s.id, s))))).toBe(4 * MiB);
    expect(peak).toBe(STREAM_WINDOW);
  });

  it('grows a lone download\'s window to the maximum, in steps after a window read alone, and a stalled reader holds the sender there', async () => {
    const daemon = downloads(8 * MiB);
    const { c, window } = pair({ receiveCredit: { maxStreamWindow: 1 * MiB } }, daemon.onStream);
    const s = get(c, '/big');
    const seen: number[] = [];
    const first = await readBytes(s, 2 * MiB, () => seen.push(window(s.id, s)));
    expect(Math.max(...seen)).toBe(1 * MiB);
    // A quarter window per grant: it passed through the sizes in between.
    expect(seen.some((w) => w > STREAM_WINDOW && w < 1 * MiB)).toBe(true);
    // The session grew with it, so it does not cap the stream. Its window in force lacks only
    // what the reader consumed since the last grant: under a quarter of the stream's window.
    await flush();
    const grownSession = SESSION_WINDOW + (1 * MiB - STREAM_WINDOW);
    expect(window(0, s)).toBeLessThanOrEqual(grownSession);
    expect(window(0, s)).toBeGreaterThan(grownSession - MiB / 4);
    // Stop reading: the daemon fills the grown window and no more.
    await flush();
    expect(s.bufferedIn).toBeGreaterThan(STREAM_WINDOW);
    expect(s.bufferedIn).toBeLessThanOrEqual(1 * MiB);
    expect(first + (await readBytes(s, 8 * MiB))).toBe(8 * MiB);
  });

  it('takes the extra back while another stream is busy, and grows again once it is alone', async () => {
    const daemon = downloads(16 * MiB, new Set(['/small']));
    const { c, window } = pair({ receiveCredit: { maxStreamWindow: 1 * MiB } }, daemon.onStream);
    const big = get(c, '/big');
    let grown = 0;
    let total = await readBytes(big, 2 * MiB, () => (grown = Math.max(grown, window(big.id, big))));
    expect(grown).toBe(1 * MiB);
    const small = get(c, '/small'); // busy until the daemon answers it
    await flush();
    let peakWhileShared = 0;
    total += await readBytes(big, 2 * MiB, () => (peakWhileShared = Math.max(peakWhileShared, window(big.id, big))));
    // Once the withheld extra is consumed, the window is the announced one again, session too.
    await flush();
    // (less what was read since the last grant: under a quarter of the stream window).
    expect(window(big.id, big)).toBeLessThanOrEqual(STREAM_WINDOW);
    expect(window(big.id, big)).toBeGreaterThan(STREAM_WINDOW - STREAM_WINDOW / 4);
    expect(window(0, big)).toBeLessThanOrEqual(SESSION_WINDOW);
    expect(window(0, big)).toBeGreaterThan(SESSION_WINDOW - STREAM_WINDOW / 4);
    expect(peakWhileShared).toBeLessThanOrEqual(1 * MiB);
    await flush();
    expect(big.bufferedIn).toBeLessThanOrEqual(STREAM_WINDOW); // what a stalled reader lets in now

    daemon.release('/small', 100);
    expect(await readBytes(small, MiB)).toBe(100);
    // Growing starts only after a whole window read alone, so a gap between requests grows nothing.
    let early = 0;
    total += await readBytes(big, STREAM_WINDOW - 64 * KiB, () => (early = Math.max(early, window(big.id, big))));
    expect(early).toBeLessThanOrEqual(STREAM_WINDOW);
    expect(early).toBeGreaterThan(STREAM_WINDOW / 2); // credit keeps flowing meanwhile
    total += await readGrowing(big, 3 * MiB, 1 * MiB, window);
    total += await readBytes(big, 16 * MiB);
    expect(total).toBe(16 * MiB);
  });

  it('holds an HTTP download to the shared window while another stream is busy, then gives the held credit back', async () => {
    const SHARED = 32 * KiB;
    const daemon = downloads(16 * MiB, new Set(['/small']));
    const { c, window } = pair({ receiveCredit: { maxStreamWindow: 1 * MiB, sharedStreamWindow: SHARED } }, daemon.onStream);
    const big = get(c, '/big');
    let total = await readBytes(big, 2 * MiB);
    const small = get(c, '/small'); // busy until the daemon answers it
    total += await readBytes(big, 2 * MiB); // drains the grown window's bytes in flight
    // From now on the daemon never holds more than the shared window of credit (bytes in flight included).
    let peakCredit = 0;
    total += await readBytes(big, 1 * MiB, () => (peakCredit = Math.max(peakCredit, window(big.id))));
    expect(peakCredit).toBeLessThanOrEqual(SHARED);
    await flush();
    expect(big.bufferedIn).toBeLessThanOrEqual(SHARED); // what a stalled reader lets in now

    daemon.release('/small', 100);
    expect(await readBytes(small, MiB)).toBe(100);
    // Alone again: the next read hands back what was held, so the window is the announced one at once.
    total += await readBytes(big, 16 * KiB);
    await flush();
    expect(window(big.id, big)).toBeGreaterThanOrEqual(STREAM_WINDOW);
    total += await readBytes(big, 16 * MiB);
    expect(total).toBe(16 * MiB);
  });

  it('with quietBytes, sharing lasts that many bytes read after the other stream ended', async () => {
    const SHARED = 32 * KiB;
    const QUIET = 512 * KiB;
    const daemon = downloads(8 * MiB, new Set(['/small']));
    const { c, window } = pair({ receiveCredit: { maxStreamWindow: 1 * MiB, sharedStreamWindow: SHARED, quietBytes: QUIET } }, daemon.onStream);
    const big = get(c, '/big');
    const small = get(c, '/small');
    let total = await readBytes(big, 1 * MiB);
    daemon.release('/small', 100);
    expect(await readBytes(small, MiB)).toBe(100);
    // Still shared for QUIET bytes read after the small one was last seen busy.
    let peakCredit = 0;
    total += await readBytes(big, QUIET - 128 * KiB, () => (peakCredit = Math.max(peakCredit, window(big.id))));
    expect(peakCredit).toBeLessThanOrEqual(SHARED);
    // Then alone: the held credit comes back and, after a window read alone, it grows.
    total += await readGrowing(big, 3 * MiB, 1 * MiB, window);
    total += await readBytes(big, 8 * MiB);
    expect(total).toBe(8 * MiB);
  });

  it('with quietBytes, an open stream that reads nothing stops counting as busy, so a download beside it still grows', async () => {
    const QUIET = 256 * KiB;
    const daemon = downloads(4 * MiB, new Set(['/idle']));
    const { c, window } = pair({ receiveCredit: { maxStreamWindow: 1 * MiB, sharedStreamWindow: 32 * KiB, quietBytes: QUIET } }, daemon.onStream);
    get(c, '/idle'); // never answered: open, silent
    const big = get(c, '/big');
    let peak = 0;
    expect(await readBytes(big, 4 * MiB, () => (peak = Math.max(peak, window(big.id, big))))).toBe(4 * MiB);
    expect(peak).toBe(1 * MiB);

    // Without quietBytes the silent stream is busy for as long as it is open: no growth.
    const plain = pair({ receiveCredit: { maxStreamWindow: 1 * MiB } }, downloads(4 * MiB, new Set(['/idle'])).onStream);
    get(plain.c, '/idle');
    const other = get(plain.c, '/big');
    let plainPeak = 0;
    expect(await readBytes(other, 4 * MiB, () => (plainPeak = Math.max(plainPeak, plain.window(other.id, other))))).toBe(4 * MiB);
    expect(plainPeak).toBe(STREAM_WINDOW);
  });

  it('two downloads at once both stay within the announced windows and both complete', async () => {
    const daemon = downloads(3 * MiB);
    const { c, window } = pair({ receiveCredit: { maxStreamWindow: 1 * MiB } }, daemon.onStream);
    const a = get(c, '/a');
    const b = get(c, '/b');
    let peak = 0;
    const track = () => (peak = Math.max(peak, window(a.id, a), window(b.id, b)));
    const [na, nb] = await Promise.all([readBytes(a, 3 * MiB, track), readBytes(b, 3 * MiB, track)]);
    expect([na, nb]).toEqual([3 * MiB, 3 * MiB]);
    // Whichever finishes first leaves the other alone for its last bytes, so it may grow then.
    expect(peak).toBeLessThanOrEqual(1 * MiB);
  });

  it('in version 2 a download\'s session credit rides on its stream CREDIT; version 1 sends both kinds', async () => {
    const v2 = pair({}, downloads(2 * MiB).onStream);
    expect(await readBytes(get(v2.c, '/big'), 2 * MiB)).toBe(2 * MiB);
    expect(v2.credits().combined).toBeGreaterThan(0);
    expect(v2.credits().sessionOnly).toBe(0);

    const v1 = pair({ versions: [1] }, downloads(2 * MiB).onStream);
    expect(await readBytes(get(v1.c, '/big'), 2 * MiB)).toBe(2 * MiB);
    expect(v1.credits()).toEqual({ combined: 0, sessionOnly: 2 * MiB / (SESSION_WINDOW / 4) });
  });
});

describe('ReceiveSharing', () => {
  it('holds only HTTP bodies (a channel message needs its whole window), and only with a shared window set', () => {
    expect(new ReceiveSharing({ maxStreamWindow: MiB, sharedStreamWindow: 32 * KiB }).holds('http')).toBe(true);
    expect(new ReceiveSharing({ maxStreamWindow: MiB, sharedStreamWindow: 32 * KiB }).holds('channel')).toBe(false);
    expect(new ReceiveSharing({ maxStreamWindow: MiB }).holds('http')).toBe(false);
  });

  it('tops the peer\'s credit up to the shared window, holds the rest, and releases it all once', () => {
    const sharing = new ReceiveSharing({ maxStreamWindow: MiB, sharedStreamWindow: 32 * KiB });
    const stream = {};
    expect(sharing.sharedGrant(stream, 64 * KiB, 30 * KiB)).toBe(0); // under a quarter of room: wait
    expect(sharing.sharedGrant(stream, 64 * KiB, 0)).toBe(32 * KiB); // the peer has none left: all the room
    expect(sharing.release(stream)).toBe(96 * KiB);
    expect(sharing.release(stream)).toBe(0);
  });

  it('refuses a shared window that could starve the peer, and a negative quietBytes', () => {
    expect(() => new ReceiveSharing({ maxStreamWindow: MiB, sharedStreamWindow: 0 })).toThrow(/sharedStreamWindow/);
    expect(() => new ReceiveSharing({ maxStreamWindow: MiB, sharedStreamWindow: 1000 })).toThrow(/sharedStreamWindow/);
    expect(() => new ReceiveSharing({ maxStreamWindow: MiB, quietBytes: -1 })).toThrow(/quietBytes/);
    // A multiplexer given such a policy fails as it is made, not at its first read.
    expect(() => new Mux({ role: 'client', send: () => {}, receiveCredit: { maxStreamWindow: MiB, sharedStreamWindow: 10 } })).toThrow(RangeError);
  });
});
