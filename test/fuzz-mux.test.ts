/**
 * The multiplexer (protocol/stream/mux.ts, docs/protocol.md) driven by random sequences of inner
 * frames from a hostile peer after a valid HELLO: mutated valid frames (OPEN, HEAD, DATA,
 * MESSAGE, END, RESET, CREDIT, PING, PONG, GOAWAY, EVENT, ERROR), unknown kinds and raw bytes,
 * interleaved with the local application reading, answering and writing. After every step:
 * `receive` never throws; every frame the mux sends is a well-formed inner frame and every
 * RESET/ERROR carries a documented StreamCode; the session ends only with a documented code and
 * then sends nothing more; open streams stay within maxStreams; bytes buffered per stream stay
 * within the stream window and across streams within the session window; what we send never
 * exceeds the credit the peer granted. Fixed seed in `npm test`; SIDEBAND_FUZZ_RUNS=N for more.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Mux, type MuxRole } from '../protocol/stream/mux.js';
import type { MuxStream } from '../protocol/stream/mux-stream.js';
import { decodeCodeReason, decodeInner, encodeCodeReason, encodeGoaway, encodeInner, encodePacked, encodeUint32 } from '../protocol/stream/inner-frame.js';
import { encodeEvent, encodeHello, encodeOpen, encodeResponseHead } from '../protocol/stream/heads.js';
import { InnerKind, MESSAGE_COST, MessageFlag, StreamCode } from '../protocol/stream/stream-codes.js';
import { StreamError } from '../protocol/stream/stream-error.js';
import { FUZZ_TIMEOUT_MS, fuzzParams } from './helpers/fault-fuzz-config.js';

/** Small limits so random sequences reach every bound quickly. */
const LIMITS = { streamWindow: 4096, sessionWindow: 8192, maxStreams: 4, maxHeadBytes: 512, maxMessageBytes: 2048, maxChunk: 1024, writeHighWater: 2048 };
const PEER_HELLO = { versions: [1], streamWindow: 3000, sessionWindow: 5000, maxStreams: 3, maxHeadBytes: 512, maxMessageBytes: 1024, capabilities: ['http', 'channel', 'event'] };
const CODE_VALUES = new Set<number>(Object.values(StreamCode));
const CODE_NAMES = new Set(Object.keys(StreamCode));
const KNOWN_KINDS = new Set<number>(Object.values(InnerKind));

type Step =
  | { t: 'frame'; bytes: Uint8Array }
  | { t: 'credit'; id: number; inc: number }
  | { t: 'read'; k: number }
  | { t: 'respond'; k: number; status: number }
  | { t: 'write'; k: number; size: number }
  | { t: 'end'; k: number }
  | { t: 'reset'; k: number }
  | { t: 'open' }
  | { t: 'writable'; on: boolean }
  /** OPEN with the next valid id of the peer's parity: gets past the id checks to the deep states. */
  | { t: 'openNext'; body: Uint8Array }
  /** A frame of `kind` on a stream this run knows (k picks it), so bodies meet live streams. */
  | { t: 'toKnown'; k: number; kind: number; body: Uint8Array };

// Mostly the first few ids (so frames meet live streams of either parity), sometimes extremes.
const streamId = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom(0xffffffff, 0xfffffffe, 0x80000000) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) },
);
const path = fc.constantFrom('/', '/a', '/b?c=d', '/chan');
const headers = fc.constantFrom<[string, string][]>([], [['content-type', 'text/plain']], [['x', 'y'], ['x', 'z']]);
const openBody = fc.oneof(
  fc.tuple(fc.constantFrom('GET', 'POST', 'PUT'), path, headers).map(([method, p, h]) => encodeOpen({ kind: 'http', method, path: p, headers: h })),
  fc.tuple(path, headers).map(([p, h]) => encodeOpen({ kind: 'channel', path: p, headers: h })),
  fc.uint8Array({ maxLength: 24 }),
  fc.constant(encodePacked({ kind: 'http', method: 'GET', path: `/${'x'.repeat(600)}`, headers: [] })), // over maxHeadBytes
);
const headBody = fc.oneof(
  fc.tuple(fc.integer({ min: 100, max: 599 }), headers).map(([status, h]) => encodeResponseHead({ status, headers: h })),
  fc.uint8Array({ maxLength: 16 }),
);
const dataBody = fc.oneof(fc.integer({ min: 0, max: 3000 }).map((n) => new Uint8Array(n).fill(7)), fc.uint8Array({ maxLength: 32 }));
const messageBody = fc
  .tuple(fc.integer({ min: 0, max: 255 }), fc.oneof(fc.integer({ min: 0, max: 2500 }), fc.constant(0)))
  .map(([flags, n]) => {
    const body = new Uint8Array(1 + n).fill(9);
    body[0] = flags;
    return body;
  });
const codeReason = fc.tuple(fc.oneof(fc.constantFrom(...CODE_VALUES), fc.integer({ min: 0, max: 0xffff })), fc.string({ maxLength: 20 })).map(([c, r]) => encodeCodeReason(c, r));

const frame = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(streamId, openBody).map(([id, b]) => encodeInner(InnerKind.OPEN, id, b)) },
  { weight: 2, arbitrary: fc.tuple(streamId, headBody).map(([id, b]) => encodeInner(InnerKind.HEAD, id, b)) },
  { weight: 5, arbitrary: fc.tuple(streamId, dataBody).map(([id, b]) => encodeInner(InnerKind.DATA, id, b)) },
  { weight: 3, arbitrary: fc.tuple(streamId, messageBody).map(([id, b]) => encodeInner(InnerKind.MESSAGE, id, b)) },
  { weight: 2, arbitrary: streamId.map((id) => encodeInner(InnerKind.END, id)) },
  { weight: 2, arbitrary: fc.tuple(streamId, fc.oneof(codeReason, fc.uint8Array({ maxLength: 1 }))).map(([id, b]) => encodeInner(InnerKind.RESET, id, b)) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => encodeInner(InnerKind.PING, 0, b)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 12 }).map((b) => encodeInner(InnerKind.PONG, 0, b)) },
  { weight: 1, arbitrary: fc.tuple(streamId, fc.integer({ min: 0, max: 0xffff })).map(([id, c]) => encodeInner(InnerKind.GOAWAY, 0, encodeGoaway(id, c))) },
  { weight: 1, arbitrary: fc.constantFrom('build', '', 'bad name').map((name) => encodeInner(InnerKind.EVENT, 0, name === '' || name.includes(' ') ? encodePacked({ name }) : encodeEvent({ name, data: [1] }))) },
  { weight: 1, arbitrary: codeReason.map((b) => encodeInner(InnerKind.ERROR, 0, b)) },
  { weight: 1, arbitrary: fc.constant(encodeInner(InnerKind.HELLO, 0, encodeHello(PEER_HELLO))) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0x0d, max: 0xff }), streamId, fc.uint8Array({ maxLength: 8 })).map(([k, id, b]) => encodeInner(k, id, b)) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 12 }) },
);
/** A valid frame with one byte flipped: close to valid, so it reaches deep checks. */
const mutated = fc.tuple(frame, fc.nat(), fc.integer({ min: 1, max: 255 })).map(([bytes, at, xor]) => {
  const copy = bytes.slice();
  if (copy.length) copy[at % copy.length]! ^= xor;
  return copy;
});

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: frame.map((bytes) => ({ t: 'frame' as const, bytes })) },
  { weight: 1, arbitrary: mutated.map((bytes) => ({ t: 'frame' as const, bytes })) },
  { weight: 2, arbitrary: fc.tuple(fc.oneof(fc.constant(0), streamId), fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.constant(0xffffffff))).map(([id, inc]) => ({ t: 'credit' as const, id, inc })) },
  { weight: 3, arbitrary: fc.nat().map((k) => ({ t: 'read' as const, k })) },
  { weight: 2, arbitrary: fc.tuple(fc.nat(), fc.integer({ min: 100, max: 599 })).map(([k, status]) => ({ t: 'respond' as const, k, status })) },
  { weight: 2, arbitrary: fc.tuple(fc.nat(), fc.integer({ min: 0, max: 6000 })).map(([k, size]) => ({ t: 'write' as const, k, size })) },
  { weight: 1, arbitrary: fc.nat().map((k) => ({ t: 'end' as const, k })) },
  { weight: 1, arbitrary: fc.nat().map((k) => ({ t: 'reset' as const, k })) },
  { weight: 1, arbitrary: fc.constant({ t: 'open' as const }) },
  { weight: 1, arbitrary: fc.boolean().map((on) => ({ t: 'writable' as const, on })) },
  { weight: 4, arbitrary: openBody.map((body) => ({ t: 'openNext' as const, body })) },
  {
    weight: 8,
    arbitrary: fc.oneof(
      { weight: 5, arbitrary: fc.tuple(fc.nat(), dataBody).map(([k, body]) => ({ t: 'toKnown' as const, k, kind: InnerKind.DATA, body })) },
      { weight: 3, arbitrary: fc.tuple(fc.nat(), messageBody).map(([k, body]) => ({ t: 'toKnown' as const, k, kind: InnerKind.MESSAGE, body })) },
      { weight: 2, arbitrary: fc.tuple(fc.nat(), headBody).map(([k, body]) => ({ t: 'toKnown' as const, k, kind: InnerKind.HEAD, body })) },
      { weight: 1, arbitrary: fc.nat().map((k) => ({ t: 'toKnown' as const, k, kind: InnerKind.END, body: new Uint8Array(0) })) },
      { weight: 1, arbitrary: fc.tuple(fc.nat(), codeReason).map(([k, body]) => ({ t: 'toKnown' as const, k, kind: InnerKind.RESET, body })) },
      { weight: 1, arbitrary: fc.tuple(fc.nat(), fc.integer({ min: 1, max: 5000 })).map(([k, inc]) => ({ t: 'toKnown' as const, k, kind: InnerKind.CREDIT, body: encodeUint32(inc) })) },
    ),
  },
);

const ignore = (): void => {};

/** What the runs reached, so a generator that stopped reaching deep states fails loudly. */
const reached = { streams: 0, buffered: 0, sent: 0, closedWithError: 0, open: 0 };

function run(role: MuxRole, steps: Step[]): void {
  const sent: Uint8Array[] = [];
  const streams: MuxStream[] = [];
  let closedWith: { error?: StreamError } | undefined;
  let sentAtClose = 0;
  let writable = true;
  let localOpens = 0;
  // Credit the peer granted us (session level), and what we spent of it.
  let granted = PEER_HELLO.sessionWindow;
  let spent = 0;
  const mux = new Mux({
    role,
    limits: LIMITS,
    send: (bytes) => sent.push(bytes),
    isWritable: () => writable,
    onStream: (stream) => {
      streams.push(stream);
      stream.response.catch(ignore);
    },
    onEvent: ignore,
    onClose: (error) => {
      expect(closedWith, 'onClose called twice').toBeUndefined();
      closedWith = { error };
      sentAtClose = sent.length;
    },
  });
  const localOpen = (): void => {
    try {
      const stream = mux.open({ kind: localOpens % 2 ? 'channel' : 'http', method: 'POST', path: '/up', headers: [] });
      localOpens++;
      streams.push(stream);
    } catch (error) {
      expect(error).toBeInstanceOf(StreamError);
    }
  };
  mux.start();
  if (role === 'client') for (let i = 0; i < 3; i++) localOpen();
  mux.receive(encodeInner(InnerKind.HELLO, 0, encodeHello(PEER_HELLO)));
  expect(mux.ready).toBe(true);

  const pick = (k: number): MuxStream | undefined => (streams.length ? streams[k % streams.length] : undefined);
  let nextRemoteId = role === 'daemon' ? 1 : 2;
  let checked = 0;
  const check = (): void => {
    // Every frame we sent is well formed, with documented codes; spent credit is within what was granted.
    for (; checked < sent.length; checked++) {
      const out = decodeInner(sent[checked]!);
      expect(KNOWN_KINDS.has(out.kind), `sent unknown kind ${out.kind}`).toBe(true);
      if (out.kind === InnerKind.RESET || out.kind === InnerKind.ERROR) expect(CODE_VALUES.has(decodeCodeReason(out.body).code)).toBe(true);
      if (out.kind === InnerKind.DATA) spent += out.body.length;
      if (out.kind === InnerKind.MESSAGE) spent += out.body.length - 1 + ((out.body[0]! & MessageFlag.fin) !== 0 ? MESSAGE_COST : 0);
    }
    expect(spent).toBeLessThanOrEqual(granted);
    if (closedWith) {
      expect(mux.closed).toBe(true);
      expect(sent.length, 'sent frames after the session closed').toBe(sentAtClose);
      if (closedWith.error) {
        expect(closedWith.error).toBeInstanceOf(StreamError);
        expect(CODE_NAMES.has(closedWith.error.code)).toBe(true);
        // `internal` from our side means receive() caught something other than a StreamError: a crash in disguise.
        if (!closedWith.error.remote) expect(closedWith.error.code, closedWith.error.message).not.toBe('internal');
      }
      expect(mux.streamCount).toBe(0);
    }
    // Bounded state: concurrent streams, and bytes held for the application.
    expect(mux.streamCount).toBeLessThanOrEqual(LIMITS.maxStreams + Math.min(localOpens, PEER_HELLO.maxStreams));
    let total = 0;
    for (const stream of streams) {
      expect(stream.bufferedIn).toBeGreaterThanOrEqual(0);
      expect(stream.bufferedIn).toBeLessThanOrEqual(LIMITS.streamWindow);
      total += stream.bufferedIn;
    }
    expect(total).toBeLessThanOrEqual(LIMITS.sessionWindow);
    if (total > 0) reached.buffered++;
  };

  for (const s of steps) {
    switch (s.t) {
      case 'frame':
        mux.receive(s.bytes); // must never throw
        break;
      case 'credit': {
        const wasOpen = !mux.closed;
        mux.receive(encodeInner(InnerKind.CREDIT, s.id, encodeUint32(s.inc)));
        if (wasOpen && !mux.closed && s.id === 0 && s.inc > 0) granted += s.inc;
        break;
      }
      case 'read': {
        const stream = pick(s.k);
        if (stream) (stream.head.kind === 'channel' ? stream.readMessage() : stream.read()).catch(ignore);
        break;
      }
      case 'respond': {
        const stream = pick(s.k);
        try {
          stream?.respond({ status: s.status, headers: [] });
        } catch (error) {
          expect(error).toBeInstanceOf(StreamError);
        }
        break;
      }
      case 'write': {
        const stream = pick(s.k);
        if (stream) (stream.head.kind === 'channel' ? stream.sendMessage(new Uint8Array(Math.min(s.size, 900))) : stream.write(new Uint8Array(s.size))).catch(ignore);
        break;
      }
      case 'end':
        pick(s.k)?.end({ stopPeer: s.k % 2 === 0 });
        break;
      case 'reset':
        pick(s.k)?.reset('cancel', 'fuzz');
        break;
      case 'open':
        localOpen();
        break;
      case 'openNext':
        mux.receive(encodeInner(InnerKind.OPEN, nextRemoteId, s.body));
        nextRemoteId += 2;
        break;
      case 'toKnown': {
        const stream = pick(s.k);
        if (stream) mux.receive(encodeInner(s.kind, stream.id, s.body));
        break;
      }
      case 'writable':
        writable = s.on;
        if (writable) mux.pump();
        break;
    }
    check();
  }
  if (streams.length > (role === 'client' ? 3 : 0)) reached.streams++;
  if (sent.some((f) => f[0] === InnerKind.DATA || f[0] === InnerKind.MESSAGE)) reached.sent++;
  if (closedWith?.error) reached.closedWithError++;
  else reached.open++;
  mux.close();
  check();
}

describe('fuzz: multiplexer under random inner frames after HELLO', () => {
  for (const role of ['daemon', 'client'] as const) {
    it(`${role} role: never throws, documented codes only, bounded streams and buffers, credit respected`, () => {
      for (const key of Object.keys(reached) as (keyof typeof reached)[]) reached[key] = 0;
      fc.assert(
        fc.property(fc.array(step, { minLength: 1, maxLength: 80 }), (steps) => run(role, steps)),
        fuzzParams(800),
      );
      // Non-vacuous: peers opened streams, bytes were buffered and sent, sessions ended and survived.
      for (const [what, count] of Object.entries(reached)) expect(count, `runs that reached: ${what}`).toBeGreaterThan(0);
    }, FUZZ_TIMEOUT_MS);
  }
});
