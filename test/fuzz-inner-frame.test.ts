/**
 * Property tests of the inner stream protocol's decoders (protocol/stream/inner-frame.ts and
 * heads.ts, docs/protocol.md §2–§3): arbitrary bytes and arbitrary MessagePack values never make
 * a decoder throw anything but StreamError('protocol'), whatever decodes re-encodes to the same
 * value, and every encoder's output decodes back. Fixed seed in `npm test`; SIDEBAND_FUZZ_RUNS=N
 * for a long run.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeCodeReason, decodeGoaway, decodeInner, decodePacked, decodeUint32, encodeCodeReason, encodeGoaway, encodeInner, encodePacked, encodeUint32,
} from '../protocol/stream/inner-frame.js';
import { decodeEvent, decodeHello, decodeOpen, decodeResponseHead, encodeEvent, encodeHello, encodeOpen, encodeResponseHead } from '../protocol/stream/heads.js';
import { INNER_HEADER_LENGTH, MAX_INNER_BODY } from '../protocol/stream/stream-codes.js';
import { StreamError } from '../protocol/stream/stream-error.js';
import { FUZZ_TIMEOUT_MS, fuzzParams } from './helpers/fault-fuzz-config.js';

/** Runs `fn`; a throw must be StreamError('protocol') (the only code a decoder may raise). */
function decodesOrProtocolError<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (error) {
    if (!(error instanceof StreamError)) throw new Error(`threw a non-StreamError: ${String(error)}`);
    expect(error.code).toBe('protocol');
    expect(error.remote).toBe(false);
    return undefined;
  }
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

/** MessagePack of arbitrary JS values, plus maps shaped like the heads with arbitrary field values. */
const anyValue = fc.anything({ maxDepth: 3, withBigInt: false, withDate: true, withTypedArray: true, withNullPrototype: true, withObjectString: false });
const headerPair = fc.oneof(
  fc.tuple(fc.string({ maxLength: 12 }), fc.string({ maxLength: 20 })),
  fc.tuple(fc.constantFrom('content-type', 'x-a', 'Idempotency-Key'), fc.string({ unit: 'binary', maxLength: 20 })),
  anyValue,
);
const headersValue = fc.oneof(fc.array(headerPair, { maxLength: 6 }), anyValue);
const openish = fc.record(
  {
    kind: fc.oneof(fc.constantFrom('http', 'channel'), anyValue),
    method: fc.oneof(fc.constantFrom('GET', 'POST', 'BAD METHOD', '', 'X'.repeat(40)), anyValue),
    path: fc.oneof(fc.constantFrom('/', '/a?b=c', 'no-slash', '/with space', '/\u0000'), fc.string({ maxLength: 30 }).map((s) => `/${s}`), anyValue),
    headers: headersValue,
  },
  { requiredKeys: [] },
);
const headish = fc.record({ status: fc.oneof(fc.integer({ min: 0, max: 700 }), fc.double(), anyValue), headers: headersValue }, { requiredKeys: [] });
const helloish = fc.record(
  {
    versions: fc.oneof(fc.array(fc.oneof(fc.integer({ min: -1, max: 3 }), anyValue), { maxLength: 20 }), anyValue),
    streamWindow: fc.oneof(fc.integer({ min: -1, max: 2 ** 33 }), anyValue),
    sessionWindow: fc.oneof(fc.integer({ min: -1, max: 2 ** 33 }), anyValue),
    maxStreams: fc.oneof(fc.integer({ min: -1, max: 2 ** 33 }), anyValue),
    maxHeadBytes: fc.oneof(fc.integer({ min: -1, max: 2 ** 33 }), anyValue),
    maxMessageBytes: fc.oneof(fc.integer({ min: -1, max: 2 ** 33 }), anyValue),
    capabilities: fc.oneof(fc.array(fc.oneof(fc.string(), anyValue), { maxLength: 80 }), anyValue),
  },
  { requiredKeys: [] },
);
const eventish = fc.record({ name: fc.oneof(fc.string({ maxLength: 300 }), anyValue), data: anyValue }, { requiredKeys: [] });
const packedBodies = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.oneof(anyValue, openish, headish, helloish, eventish).map((value) => {
    try {
      return encodePacked(value);
    } catch {
      return new Uint8Array([0xc1]); // a value msgpack cannot encode: use its one never-used byte
    }
  }),
);

describe('fuzz: inner frame decoders', () => {
  it('decodeInner: any bytes decode (header ≥ 5) or fail with protocol; encode → decode round-trips', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const frame = decodesOrProtocolError(() => decodeInner(bytes));
        expect(frame === undefined).toBe(bytes.length < INNER_HEADER_LENGTH);
        if (frame) expect(same(encodeInner(frame.kind, frame.streamId, frame.body), bytes)).toBe(true);
      }),
      fuzzParams(3000),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffffffff }), fc.uint8Array({ maxLength: 512 }), (kind, streamId, body) => {
        const frame = decodeInner(encodeInner(kind, streamId, body));
        expect({ kind: frame.kind, streamId: frame.streamId }).toEqual({ kind, streamId });
        expect(same(frame.body, body)).toBe(true);
      }),
      fuzzParams(2000),
    );
  }, FUZZ_TIMEOUT_MS);

  it('encodeInner refuses a body over MAX_INNER_BODY with protocol, and takes one at the limit', () => {
    expect(decodeInner(encodeInner(3, 1, new Uint8Array(MAX_INNER_BODY))).body.length).toBe(MAX_INNER_BODY);
    expect(() => encodeInner(3, 1, new Uint8Array(MAX_INNER_BODY + 1))).toThrow(StreamError);
  });

  it('fixed-size bodies (CREDIT, GOAWAY, RESET/ERROR): arbitrary bytes decode or fail with protocol; encoders round-trip', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 12 }), (bytes) => {
        const credit = decodesOrProtocolError(() => decodeUint32(bytes, 'CREDIT'));
        expect(credit === undefined).toBe(bytes.length !== 4);
        const goaway = decodesOrProtocolError(() => decodeGoaway(bytes));
        expect(goaway === undefined).toBe(bytes.length !== 6);
        // Without a code it is malformed; with one, a reason that is too long or not UTF-8 may be too.
        const reset = decodesOrProtocolError(() => decodeCodeReason(bytes));
        if (bytes.length < 2) expect(reset).toBeUndefined();
        if (reset) expect(reset.code).toBe((bytes[0]! << 8) | bytes[1]!);
      }),
      fuzzParams(3000),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffff }), fc.string({ maxLength: 600 }), (n, code, reason) => {
        expect(decodeUint32(encodeUint32(n), 'CREDIT')).toBe(n);
        expect(decodeGoaway(encodeGoaway(n, code))).toEqual({ lastStreamId: n, code });
        // What our encoder writes, any reason of any length, our decoder accepts.
        const decoded = decodeCodeReason(encodeCodeReason(code, reason));
        expect(decoded.code).toBe(code);
        expect(reason.startsWith(decoded.reason) || decoded.reason.includes('\ufffd')).toBe(true);
      }),
      fuzzParams(2000),
    );
  }, FUZZ_TIMEOUT_MS);

  it('structured heads (HELLO, OPEN, HEAD, EVENT): arbitrary bytes and MessagePack values decode or fail with protocol; what decodes re-encodes to the same value', () => {
    fc.assert(
      fc.property(packedBodies, (body) => {
        decodesOrProtocolError(() => decodePacked(body, 'fuzz'));
        const hello = decodesOrProtocolError(() => decodeHello(body));
        if (hello) expect(decodeHello(encodeHello(hello))).toEqual(hello);
        const open = decodesOrProtocolError(() => decodeOpen(body));
        if (open) expect(decodeOpen(encodeOpen(open))).toEqual(open);
        const head = decodesOrProtocolError(() => decodeResponseHead(body));
        if (head) expect(decodeResponseHead(encodeResponseHead(head))).toEqual(head);
        const event = decodesOrProtocolError(() => decodeEvent(body));
        if (event) expect(decodeEvent(encodeEvent(event)).name).toBe(event.name);
      }),
      fuzzParams(4000),
    );
  }, FUZZ_TIMEOUT_MS);

  it('valid heads round-trip through encode → decode', () => {
    const token = fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,16}$/);
    // Lower-case names that are not connection headers (those are dropped on encode and decode).
    const name = fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9a-z]{1,14}$/).map((n) => `x-${n}`);
    const value = fc.stringMatching(/^[\t\x20-\x7e]{0,40}$/);
    const headers = fc.array(fc.tuple(name, value), { maxLength: 8 });
    const path = fc.stringMatching(/^\/[\x21-\x7e]{0,60}$/);
    fc.assert(
      fc.property(token, path, headers, fc.integer({ min: 100, max: 599 }), (method, p, h, status) => {
        expect(decodeOpen(encodeOpen({ kind: 'http', method, path: p, headers: h }))).toEqual({ kind: 'http', method, path: p, headers: h });
        expect(decodeOpen(encodeOpen({ kind: 'channel', path: p, headers: h }))).toEqual({ kind: 'channel', path: p, headers: h });
        expect(decodeResponseHead(encodeResponseHead({ status, headers: h }))).toEqual({ status, headers: h });
      }),
      fuzzParams(1500),
    );
  }, FUZZ_TIMEOUT_MS);
});
