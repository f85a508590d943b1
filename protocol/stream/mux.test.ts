/**
 * Two multiplexers back to back in memory, delivering frames asynchronously (setImmediate)
 * like a socket would. End-to-end coverage through a real relay lives in test/e2e-http*.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Mux, type MuxOptions } from './mux.js';
import type { MuxStream } from './mux-stream.js';
import { decodeCombinedCredit, decodeInner, decodeUint32, encodeInner, type InnerFrame } from './inner-frame.js';
import { InnerKind } from './stream-codes.js';
import { StreamError } from './stream-error.js';

const live: Mux[] = [];
afterEach(() => {
  for (const mux of live.splice(0)) mux.close();
});

function pair(client: Partial<MuxOptions> = {}, daemon: Partial<MuxOptions> = {}) {
  const wire = { toDaemon: 0, toClient: 0, bytesToClient: 0 };
  const ends: { d?: Mux } = {};
  const c = new Mux({
    role: 'client',
    send: (f) => {
      wire.toDaemon++;
      setImmediate(() => ends.d!.receive(f));
    },
    ...client,
  });
  const d = new Mux({
    role: 'daemon',
    send: (f) => {
      wire.toClient++;
      wire.bytesToClient += f.length;
      setImmediate(() => c.receive(f));
    },
    ...daemon,
  });
  ends.d = d;
  live.push(c, d);
  c.start();
  d.start();
  return { c, d, wire };
}

/** Lets every frame in flight arrive: frames hop by setImmediate, so a few rounds drain them all. */
async function flush(rounds = 30): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

async function readAll(stream: MuxStream): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const chunk = await stream.read();
    if (!chunk) break;
    parts.push(chunk);
    total += chunk.length;
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Byte equality without Vitest's per-element deep equal (which takes seconds on megabytes). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

function pattern(n: number, seed = 0): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i + seed) % 251;
  return out;
}

/** Daemon handler: echoes the request body back with status 200. */
function echo(stream: MuxStream): void {
  void (async () => {
    const body = await readAll(stream);
    stream.respond({ status: 200, headers: [['x-path', stream.head.path]] });
    await stream.write(body);
    stream.end();
  })().catch(() => {});
}

describe('inner stream multiplexer', () => {
  it('carries a request and its response, with heads, both bodies and END', async () => {
    const { c } = pair({}, { onStream: echo });
    const s = c.open({ kind: 'http', method: 'POST', path: '/echo?x=1', headers: [['content-type', 'text/plain']] });
    await s.write(new TextEncoder().encode('hello'));
    s.end();
    const head = await s.response;
    expect(head).toEqual({ status: 200, headers: [['x-path', '/echo?x=1']] });
    expect(new TextDecoder().decode(await readAll(s))).toBe('hello');
    await new Promise((r) => setImmediate(r));
    expect(c.streamCount).toBe(0);
  });

  it('moves a 5 MB body each way intact while never buffering past the windows', async () => {
    let maxBuffered = 0;
    const { c } = pair({}, {
      onStream: (stream) =>
        void (async () => {
          const body = await readAll(stream);
          stream.respond({ status: 200, headers: [] });
          await stream.write(body);
          stream.end();
        })(),
    });
    const data = pattern(5 * 1024 * 1024);
    const s = c.open({ kind: 'http', method: 'PUT', path: '/big', headers: [] });
    await s.write(data);
    s.end();
    await s.response;
    // Read slowly so the sender runs into the window.
    const parts: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      maxBuffered = Math.max(maxBuffered, s.bufferedIn);
      const chunk = await s.read();
      if (!chunk) break;
      parts.push(chunk);
      total += chunk.length;
      if (parts.length % 64 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    expect(total).toBe(data.length);
    const joined = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      joined.set(p, o);
      o += p.length;
    }
    expect(sameBytes(joined, data)).toBe(true);
    expect(maxBuffered).toBeLessThanOrEqual(256 * 1024);
  });

  it('a reader that stops holds the sender at the window: nothing more is sent until it reads', async () => {
    let serverStream!: MuxStream;
    const { c, wire } = pair({}, {
      onStream: (stream) => {
        serverStream = stream;
        stream.respond({ status: 200, headers: [] });
        void stream.write(pattern(2 * 1024 * 1024)).then(() => stream.end(), () => {});
      },
    });
    const s = c.open({ kind: 'http', method: 'GET', path: '/stall', headers: [] });
    s.end();
    await s.response;
    await new Promise((r) => setTimeout(r, 50));
    const sentWhileStalled = wire.bytesToClient;
    expect(s.bufferedIn).toBeLessThanOrEqual(256 * 1024);
    expect(serverStream.outBytes).toBeGreaterThan(1024 * 1024); // the rest waits at the sender
    await new Promise((r) => setTimeout(r, 50));
    expect(wire.bytesToClient).toBe(sentWhileStalled);
    expect((await readAll(s)).length).toBe(2 * 1024 * 1024);
  });

  it('interleaves streams fairly: a small response completes while a large one is in flight', async () => {
    const order: string[] = [];
    const { c } = pair({}, {
      onStream: (stream) => {
        const big = stream.head.path === '/big';
        stream.respond({ status: 200, headers: [] });
        void stream.write(pattern(big ? 8 * 1024 * 1024 : 100)).then(() => stream.end(), () => {});
      },
    });
    const big = c.open({ kind: 'http', method: 'GET', path: '/big', headers: [] });
    big.end();
    const bigDone = readAll(big).then(() => order.push('big'));
    await big.response;
    const small = c.open({ kind: 'http', method: 'GET', path: '/small', headers: [] });
    small.end();
    const smallDone = readAll(small).then(() => order.push('small'));
    await Promise.all([bigDone, smallDone]);
    expect(order).toEqual(['small', 'big']);
  });

  it('cancellation from the client reaches the daemon stream, and from the daemon errors the client read', async () => {
    const aborted: string[] = [];
    const { c } = pair({}, {
      onStream: (stream) => {
        stream.onAbort((e) => aborted.push(e.code));
        if (stream.head.path === '/fail') {
          stream.respond({ status: 200, headers: [] });
          void stream.write(pattern(1000)).then(() => stream.reset('internal', 'handler failed'));
        }
      },
    });
    const s = c.open({ kind: 'http', method: 'GET', path: '/hang', headers: [] });
    s.end();
    await flush();
    s.reset('cancel', 'tab closed');
    await flush();
    expect(aborted).toEqual(['cancel']);

    const f = c.open({ kind: 'http', method: 'GET', path: '/fail', headers: [] });
    f.end();
    await f.response;
    await expect(readAll(f)).rejects.toMatchObject({ code: 'internal', remote: true });
  });

  it('a RESET after the peer ended its side keeps the data that arrived', async () => {
    const { c } = pair({}, {
      onStream: (stream) => {
        stream.respond({ status: 200, headers: [] });
        void stream.write(pattern(3000)).then(() => {
          stream.end();
          stream.reset('cancel', 'did not read the upload');
        });
      },
    });
    const s = c.open({ kind: 'http', method: 'POST', path: '/partial', headers: [] });
    const upload = s.write(pattern(10)); // upload never ended by the client
    await s.response;
    await flush();
    expect((await readAll(s)).length).toBe(3000);
    await upload;
  });

  it('channels carry text and binary messages in order, fragmenting large ones', async () => {
    const { c } = pair({}, {
      onStream: (stream) =>
        void (async () => {
          stream.respond({ status: 200, headers: [] });
          for (;;) {
            const m = await stream.readMessage();
            if (!m) break;
            await stream.sendMessage(m.text ? new TextDecoder().decode(m.data) : m.data);
          }
          stream.end();
        })(),
    });
    const ch = c.open({ kind: 'channel', path: '/term', headers: [] });
    await ch.response;
    const big = pattern(100_000, 3);
    await ch.sendMessage('ls -la');
    await ch.sendMessage(big);
    await ch.sendMessage(new Uint8Array(0));
    ch.end();
    expect(await ch.readMessage()).toEqual({ data: new TextEncoder().encode('ls -la'), text: true });
    const second = await ch.readMessage();
    expect(second?.text).toBe(false);
    expect(sameBytes(second!.data, big)).toBe(true);
    expect(await ch.readMessage()).toEqual({ data: new Uint8Array(0), text: false });
    expect(await ch.readMessage()).toBeNull();
  });

  it('a burst of tiny channel messages arriving in one socket read never overruns the reader (message cost, §5)', async () => {
    // Daemon → client frames are batched and delivered in one synchronous burst, as ws does
    // for a TCP read full of small frames; the reader gets no turn in between.
    let batch: Uint8Array[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ends: { c?: Mux } = {};
    const { c } = pair({}, {
      send: (f) => {
        batch.push(f);
        timer ??= setTimeout(() => {
          timer = undefined;
          for (const frame of batch.splice(0)) ends.c!.receive(frame);
        }, 2);
      },
      onStream: (stream) =>
        void (async () => {
          stream.respond({ status: 200, headers: [] });
          for (let i = 0; i < 3000; i++) await stream.sendMessage(i % 2 ? '' : `m${i}`);
          stream.end();
        })(),
    });
    ends.c = c;
    const ch = c.open({ kind: 'channel', path: '/tiny', headers: [] });
    await ch.response;
    let count = 0;
    for (;;) {
      const m = await ch.readMessage();
      if (!m) break;
      expect(new TextDecoder().decode(m.data)).toBe(count % 2 ? '' : `m${count}`);
      count++;
    }
    expect(count).toBe(3000);
    batch = [];
  });

  it('rejects an empty non-final MESSAGE fragment, which would cost no credit', async () => {
    const { c, d } = pair({}, { onStream: (s) => s.respond({ status: 200, headers: [] }) });
    const ch = c.open({ kind: 'channel', path: '/x', headers: [] });
    await ch.response;
    d.receive(encodeInner(InnerKind.MESSAGE, ch.id, Uint8Array.of(0x01)));
    await flush();
    await expect(ch.readMessage()).rejects.toMatchObject({ code: 'protocol' });
  });

  it('refuses channel messages over the peer limit before sending', async () => {
    const { c } = pair({}, { onStream: (s) => s.respond({ status: 200, headers: [] }) });
    const ch = c.open({ kind: 'channel', path: '/x', headers: [] });
    await ch.response;
    await expect(ch.sendMessage(new Uint8Array(256 * 1024 + 1))).rejects.toMatchObject({ code: 'message_too_large' });
  });

  it('delivers events and measures RTT with PING', async () => {
    const events: [string, unknown][] = [];
    const { c, d } = pair({ onEvent: (n, data) => events.push([n, data]) });
    await flush();
    d.publishEvent('build', { ok: true, n: 3 });
    const rtt = await c.ping();
    expect(rtt).toBeGreaterThanOrEqual(0);
    expect(events).toEqual([['build', { ok: true, n: 3 }]]);
  });

  it('reports dropped events instead of losing them silently when the transport is stuck', async () => {
    let writable = false;
    const events: string[] = [];
    const { d } = pair({ onEvent: (n) => events.push(n) }, { isWritable: () => writable });
    await flush();
    for (let i = 0; i < 300; i++) d.publishEvent('tick', i);
    writable = true;
    d.pump();
    await flush();
    expect(events.filter((n) => n === 'tick')).toHaveLength(256);
    expect(events.at(-1)).toBe('sideband.events-dropped');
  });

  it('refuses streams past maxStreams with RESET refused, and queues opens locally up to a bound', async () => {
    const { c } = pair({ limits: { maxPendingOpens: 3 } }, { limits: { maxStreams: 2 }, onStream: () => {} });
    await flush();
    const open = () => c.open({ kind: 'http', method: 'GET', path: '/', headers: [] });
    const streams = [open(), open(), open(), open(), open()]; // 2 active, 3 waiting
    expect(() => open()).toThrowError(expect.objectContaining({ code: 'refused' }));
    streams[0]!.reset('cancel');
    await flush();
    expect(c.streamCount).toBe(2);
  });

  it('GOAWAY: no new streams, open ones finish', async () => {
    const { c, d } = pair({}, { onStream: echo });
    const s = c.open({ kind: 'http', method: 'POST', path: '/a', headers: [] });
    await s.write(pattern(10));
    await flush();
    d.shutdown();
    await flush();
    expect(() => c.open({ kind: 'http', method: 'GET', path: '/b', headers: [] })).toThrowError(expect.objectContaining({ code: 'going_away' }));
    s.end();
    expect((await readAll(s)).length).toBe(10);
  });

  it('answers malformed inner frames with ERROR and fails open streams, without throwing', async () => {
    const closed: (StreamError | undefined)[] = [];
    const { c, d } = pair({ onClose: (e) => closed.push(e) }, { onStream: () => {} });
    const s = c.open({ kind: 'http', method: 'GET', path: '/', headers: [] });
    await flush();
    d.receive(Uint8Array.of(1, 2)); // shorter than the header
    await flush();
    expect(d.closed).toBe(true);
    expect(closed[0]).toMatchObject({ code: 'protocol', remote: true });
    await expect(s.response).rejects.toBeInstanceOf(StreamError);
  });

  it('resets a stream whose peer overruns the stream window, and ends the session on a session-window overrun', async () => {
    const { c, d } = pair({}, { onStream: () => {} });
    const streams = [1, 2, 3, 4, 5, 6].map(() => c.open({ kind: 'http', method: 'POST', path: '/', headers: [] }));
    await flush();
    const piece = new Uint8Array(50_000);
    // Stream 1: 6 × 50 kB > its 256 KiB window → RESET flow_control, session lives.
    for (let i = 0; i < 6; i++) d.receive(encodeInner(InnerKind.DATA, 1, piece));
    await flush();
    await expect(streams[0]!.response).rejects.toMatchObject({ code: 'flow_control' });
    expect(d.closed).toBe(false);
    // Streams 3..11: 5 × 250 kB each fits a stream window but not the 1 MiB session window.
    for (const id of [3, 5, 7, 9, 11]) for (let i = 0; i < 5; i++) d.receive(encodeInner(InnerKind.DATA, id, piece));
    expect(d.closed).toBe(true);
  });

  it('refuses bad OPEN heads with RESET protocol and keeps the session', async () => {
    const resets: string[] = [];
    const { d } = pair({}, { onStream: () => {} });
    await flush();
    const cases = [Uint8Array.of(0xc1), new Uint8Array([0x80]), new TextEncoder().encode('x')];
    let id = 1;
    for (const body of cases) d.receive(encodeInner(InnerKind.OPEN, (id += 2), body));
    expect(d.closed).toBe(false);
    void resets;
  });

  it('a stream reset after a partial read returns each of its bytes to the session window once', async () => {
    const received = { data: 0, sessionCredit: 0 };
    const { c, d } = pair({}, {
      onStream: (stream) => {
        stream.respond({ status: 200, headers: [] });
        void (async () => {
          for (let i = 0; i < 3; i++) await stream.write(new Uint8Array(16 * 1024)).catch(() => {});
        })();
      },
    });
    // Tap both directions: DATA bytes reaching the client, session credit it grants back.
    const tap = (mux: Mux, count: (frame: InnerFrame) => void) => {
      const options = (mux as unknown as { options: MuxOptions }).options;
      const send = options.send;
      options.send = (frame) => {
        count(decodeInner(frame));
        send(frame);
      };
    };
    tap(d, (frame) => {
      if (frame.kind === InnerKind.DATA) received.data += frame.body.length;
    });
    tap(c, (frame) => {
      if (frame.kind !== InnerKind.CREDIT) return;
      if (frame.streamId === 0) received.sessionCredit += decodeUint32(frame.body, 'credit');
      else if (frame.body.length === 8) received.sessionCredit += decodeCombinedCredit(frame.body).session;
    });
    for (let i = 0; i < 12; i++) {
      const s = c.open({ kind: 'http', method: 'GET', path: `/r${i}`, headers: [] }, { end: true });
      await s.read(); // the head and a first piece: less than a quarter window, so no stream credit yet
      await flush();
      s.reset('cancel');
    }
    await flush();
    // Granted back: what was read plus what was discarded, never more (the peer's window would grow).
    expect(received.data).toBeGreaterThan(0);
    expect(received.sessionCredit).toBeLessThanOrEqual(received.data);
  });

  it('never throws on arbitrary inner frames (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 80 }), { maxLength: 30 }), (frames) => {
        const mux = new Mux({ role: 'daemon', send: () => {}, onStream: () => {} });
        mux.receive(encodeInner(InnerKind.HELLO, 0, new Uint8Array(0)));
        for (const f of frames) mux.receive(f);
        mux.close();
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips bodies of any size and chunking (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 40_000 }), { maxLength: 6 }), async (chunks) => {
        const { c } = pair({}, { onStream: echo });
        const s = c.open({ kind: 'http', method: 'POST', path: '/p', headers: [] });
        for (const chunk of chunks) await s.write(chunk);
        s.end();
        const expected = chunks.reduce((n, ch) => n + ch.length, 0);
        const got = await readAll(s);
        expect(got.length).toBe(expected);
        let o = 0;
        for (const ch of chunks) {
          expect(got.subarray(o, o + ch.length)).toEqual(ch);
          o += ch.length;
        }
      }),
      { numRuns: 25 },
    );
  });
});

describe('scheduling for fewer frames (issue 9)', () => {
  const FULL = { maxChunk: 65_503, writeHighWater: 128 * 1024 };

  /** A client and a deferring daemon whose DATA frame sizes are recorded. */
  function deferredPair(onStream: (stream: MuxStream) => void) {
    const dataSizes: number[] = [];
    const { c, d } = pair({ defer: setImmediate, limits: { ...FULL, streamWindow: 1 << 22, sessionWindow: 1 << 23 } }, {
      defer: setImmediate,
      limits: FULL,
      onStream,
    });
    const send = (d as unknown as { options: MuxOptions }).options.send;
    (d as unknown as { options: MuxOptions }).options.send = (frame) => {
      if (frame[0] === InnerKind.DATA) dataSizes.push(frame.length - 5);
      send(frame);
    };
    return { c, dataSizes };
  }

  it('64 KiB writes leave as full 65 503-byte frames, not a full frame and a 33-byte tail each', async () => {
    const { c, dataSizes } = deferredPair((stream) => {
      stream.respond({ status: 200, headers: [] });
      void (async () => {
        for (let i = 0; i < 20; i++) await stream.write(new Uint8Array(65_536).fill(i));
        stream.end();
      })();
    });
    const s = c.open({ kind: 'http', method: 'GET', path: '/big', headers: [] }, { end: true });
    const body = await readAll(s);
    expect(body.length).toBe(20 * 65_536);
    expect(body[65_536 * 7]).toBe(7);
    expect(dataSizes.slice(0, -1).every((n) => n === 65_503)).toBe(true);
    expect(dataSizes.length).toBe(Math.ceil((20 * 65_536) / 65_503));
  });

  it('a rest held back for the next round still goes out when the producer stalls without ending', async () => {
    const { c } = deferredPair((stream) => {
      stream.respond({ status: 200, headers: [] });
      void (async () => {
        for (let i = 0; i < 3; i++) await stream.write(new Uint8Array(65_536)); // then nothing, no END
      })();
    });
    const s = c.open({ kind: 'http', method: 'GET', path: '/stall', headers: [] }, { end: true });
    let received = 0;
    while (received < 3 * 65_536) received += (await s.read())!.length;
    expect(received).toBe(3 * 65_536);
  });

  it('round-trips bodies of any size and chunking with deferred scheduling on both sides (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 140_000 }), { maxLength: 5 }), async (chunks) => {
        const { c } = pair({ defer: setImmediate, limits: FULL }, { defer: setImmediate, limits: FULL, onStream: echo });
        const s = c.open({ kind: 'http', method: 'POST', path: '/p', headers: [] });
        for (const chunk of chunks) await s.write(chunk);
        s.end();
        const got = await readAll(s);
        expect(got).toEqual(concat(chunks));
      }),
      { numRuns: 15 },
    );
  });

  it('with sendParts a DATA frame leaves as its header and views of the written chunks, never copied', async () => {
    const parts: Uint8Array[][] = [];
    const written: Uint8Array[] = [];
    const join = (pieces: readonly Uint8Array[]) => concat([...pieces]);
    const { c, d } = pair({ defer: setImmediate, limits: { ...FULL, streamWindow: 1 << 22, sessionWindow: 1 << 23 } }, {
      defer: setImmediate,
      limits: FULL,
      onStream: (stream) => {
        stream.respond({ status: 200, headers: [] });
        void (async () => {
          for (let i = 0; i < 4; i++) {
            const chunk = new Uint8Array(100_000).fill(i + 1);
            written.push(chunk);
            await stream.write(chunk);
          }
          stream.end();
        })();
      },
    });
    const options = (d as unknown as { options: MuxOptions }).options;
    options.sendParts = (pieces) => {
      parts.push([...pieces]);
      options.send(join(pieces));
    };
    const s = c.open({ kind: 'http', method: 'GET', path: '/big', headers: [] }, { end: true });
    const body = await readAll(s);
    expect(body).toEqual(concat(written));
    expect(parts.length).toBe(Math.ceil(400_000 / 65_503));
    for (const [header, ...views] of parts) {
      expect(header!.length).toBe(5);
      expect(header![0]).toBe(InnerKind.DATA);
      // Every body part is a view into one of the chunks the handler wrote.
      for (const view of views) expect(written.some((chunk) => chunk.buffer === view.buffer)).toBe(true);
    }
  });

  it('round-trips bodies of any size and chunking when both sides send DATA as parts (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 140_000 }), { maxLength: 5 }), async (chunks) => {
        const { c, d } = pair({ defer: setImmediate, limits: FULL }, { defer: setImmediate, limits: FULL, onStream: echo });
        for (const mux of [c, d]) {
          const options = (mux as unknown as { options: MuxOptions }).options;
          options.sendParts = (pieces) => options.send(concat([...pieces]));
        }
        const s = c.open({ kind: 'http', method: 'POST', path: '/p', headers: [] });
        for (const chunk of chunks) await s.write(chunk);
        s.end();
        expect(await readAll(s)).toEqual(concat(chunks));
      }),
      { numRuns: 15 },
    );
  });

  it('a stream reset after the peer ended frees its slot: a waiting open goes out', async () => {
    const { c } = pair({}, {
      limits: { maxStreams: 1 },
      onStream: (stream) => {
        // Answers at once without reading the upload: HEAD, END, then RESET cancel (docs/protocol.md §6).
        stream.respond({ status: 200, headers: [] });
        stream.end({ stopPeer: true });
      },
    });
    const upload = c.open({ kind: 'http', method: 'POST', path: '/a', headers: [] });
    void upload.write(new Uint8Array(10)).catch(() => {});
    // Waits behind the upload (maxStreams 1) until that stream stops counting.
    const waiting = c.open({ kind: 'http', method: 'GET', path: '/b', headers: [] }, { end: true });
    expect((await waiting.response).status).toBe(200);
    expect(await waiting.read()).toBeNull();
  });
});

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, ch) => n + ch.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
