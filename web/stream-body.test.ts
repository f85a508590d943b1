/**
 * readableFromStream over two real in-memory multiplexers: what is buffered leaves joined, the
 * stream closes with its last chunk, nothing waits for bytes to join, errors and cancels carry
 * through. The browser path (a service worker's Response body): test/browser.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Mux } from '../protocol/stream/mux.js';
import type { MuxStream } from '../protocol/stream/mux-stream.js';
import { StreamError } from '../protocol/stream/stream-error.js';
import { readableFromStream } from './stream-body.js';

const live: Mux[] = [];
afterEach(() => {
  for (const mux of live.splice(0)) mux.close();
});

/** A client and a daemon multiplexer; frames cross in setImmediate turns, as over a socket. */
function pair(): { client: Mux; accepted: Promise<MuxStream> } {
  const ends: { daemon?: Mux } = {};
  let accept!: (stream: MuxStream) => void;
  const accepted = new Promise<MuxStream>((resolve) => (accept = resolve));
  const client = new Mux({ role: 'client', send: (frame) => setImmediate(() => ends.daemon!.receive(frame)) });
  const daemon = new Mux({ role: 'daemon', send: (frame) => setImmediate(() => client.receive(frame)), onStream: accept });
  ends.daemon = daemon;
  live.push(client, daemon);
  client.start();
  daemon.start();
  return { client, accepted };
}

/** Event-loop turns until `done()` holds (frames cross one turn at a time); no clock involved. */
async function until(done: () => boolean): Promise<void> {
  for (let turn = 0; !done(); turn++) {
    if (turn > 1000) throw new Error('condition never held');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A GET to `path` on a fresh pair, its request ended and a 200 sent by the daemon side (not yet awaited by the client). */
async function respondedGet(path = '/'): Promise<{ client: Mux; stream: MuxStream; served: MuxStream }> {
  const { client, accepted } = pair();
  const stream = client.open({ kind: 'http', method: 'GET', path, headers: [] });
  stream.end();
  const served = await accepted;
  served.respond({ status: 200, headers: [] });
  return { client, stream, served };
}

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

describe('readableFromStream', () => {
  it('hands over what is already buffered in one chunk, up to maxJoinedBytes, and closes with the last chunk', async () => {
    const { stream, served } = await respondedGet();
    for (const fill of [1, 2, 3]) await served.write(bytes(1000, fill));
    served.end();
    await stream.response;
    await until(() => stream.remoteEnded);

    const reader = readableFromStream(stream, { maxJoinedBytes: 2000 }).getReader();
    let closed = false;
    void reader.closed.then(() => (closed = true));
    const first = await reader.read();
    expect(first.value).toEqual(new Uint8Array([...bytes(1000, 1), ...bytes(1000, 2)]));
    const last = await reader.read();
    expect(last.value).toEqual(bytes(1000, 3));
    // Closed together with the last chunk: no further pull is needed to learn of the end.
    await until(() => closed);
    expect((await reader.read()).done).toBe(true);
  });

  it('never waits for more bytes to join: a lone piece is handed over at once', async () => {
    const { stream, served } = await respondedGet();
    await stream.response;
    const reader = readableFromStream(stream).getReader();
    const pending = reader.read();
    await served.write(bytes(10, 7));
    expect((await pending).value).toEqual(bytes(10, 7));
    served.end();
    expect((await reader.read()).done).toBe(true);
  });

  it('returns credit only as the consumer reads: an unread body stops the sender at the window', async () => {
    const { client, stream, served } = await respondedGet();
    await stream.response;
    const body = readableFromStream(stream); // nobody reads
    let written = 0;
    const writer = (async () => {
      for (;;) {
        await served.write(bytes(16 * 1024, 1));
        written += 16 * 1024;
      }
    })();
    void writer.catch(() => {});
    await until(() => stream.bufferedIn >= client.limits.streamWindow);
    // What the stream buffers stays at the window, whatever the writer queued on its side.
    for (let turn = 0; turn < 50; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(stream.bufferedIn).toBe(client.limits.streamWindow);
    const reader = body.getReader();
    const { value } = await reader.read();
    expect(value!.length).toBeGreaterThan(16 * 1024); // the backlog left joined
    expect(written).toBeGreaterThan(0);
    await reader.cancel();
  });

  it('errors the body with the StreamError of a reset, and a cancel resets the stream', async () => {
    const { stream: first, served: servedFirst } = await respondedGet('/one');
    await first.response;
    const reader = readableFromStream(first).getReader();
    const failed = reader.read();
    servedFirst.reset('internal', 'handler failed');
    await expect(failed).rejects.toMatchObject({ code: 'internal' });

    const { stream: second, served: servedSecond } = await respondedGet('/two');
    await second.response;
    const aborted = new Promise<StreamError>((resolve) => servedSecond.onAbort(resolve));
    await readableFromStream(second).cancel(new Error('tab closed'));
    expect((await aborted).code).toBe('cancel');
  });
});
