/**
 * Property tests of the SBRP frame codec (protocol/frame-codec.ts, sbrp.md §1): arbitrary bytes
 * never make decodeFrame/validateFromSender throw anything but an SbrpError whose code is one of
 * the validation-order codes, the code is the one the spec's ordered checks name, and every
 * well-formed frame survives encode → decode byte for byte. Fixed seed in `npm test`;
 * SIDEBAND_FUZZ_RUNS=N for a long run (test/helpers/fault-fuzz-config.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, validateFromSender, type Sender } from '../protocol/frame-codec.js';
import { FrameType, HEADER_LENGTH, KNOWN_FRAME_TYPES, MAX_PAYLOAD } from '../protocol/codes.js';
import { SbrpError } from '../protocol/errors.js';
import { FUZZ_TIMEOUT_MS, fuzzParams } from './helpers/fault-fuzz-config.js';

/** The only codes the relay's validation (sbrp.md §1 steps 1–5 plus its payload rules) may raise. */
const DECODE_CODES = new Set(['malformed_frame', 'payload_too_large', 'invalid_frame_type', 'invalid_session_id']);
const VALIDATE_CODES = new Set([...DECODE_CODES, 'disallowed_sender']);

/** The spec's ordered checks, written independently of the codec: the code the relay must answer with, or undefined. */
function expectedCode(message: Uint8Array, sender?: Sender): string | undefined {
  if (message.length < HEADER_LENGTH) return 'malformed_frame';
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const type = message[0]!;
  const length = view.getUint32(1);
  const sid = view.getBigUint64(5);
  if (HEADER_LENGTH + length !== message.length) return 'malformed_frame';
  if (length > MAX_PAYLOAD) return 'payload_too_large';
  if (![0x01, 0x02, 0x03, 0x04, 0x10, 0x11, 0x20].includes(type)) return 'invalid_frame_type';
  if (type >= 0x01 && type <= 0x04 && sid === 0n) return 'invalid_session_id';
  if ((type === 0x10 || type === 0x11) && sid !== 0n) return 'invalid_session_id';
  if (sender === undefined) return undefined;
  const forbidden = sender === 'client' ? [0x02, 0x04, 0x20] : [0x01, 0x20];
  if (forbidden.includes(type)) return 'disallowed_sender';
  if ((type === 0x10 || type === 0x11) && length > 8) return 'malformed_frame';
  if (type === 0x04 && length !== 2) return 'malformed_frame';
  return undefined;
}

/** Runs `fn`; returns the SbrpError code it threw, or undefined. Anything else thrown fails the property. */
function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    if (!(error instanceof SbrpError)) throw new Error(`threw a non-SbrpError: ${String(error)}`);
    return error.code;
  }
}

const sender = fc.constantFrom<Sender>('client', 'daemon');
const interestingType = fc.oneof(fc.constantFrom(...KNOWN_FRAME_TYPES), fc.integer({ min: 0, max: 255 }));
const interestingSid = fc.oneof(fc.constant(0n), fc.constant(1n), fc.constant(2n ** 64n - 1n), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }));

/** A header (type, length field, SID) followed by a body whose size may or may not match the length field. */
const headerish = fc
  .record({
    type: interestingType,
    sid: interestingSid,
    body: fc.uint8Array({ maxLength: 64 }),
    lengthDelta: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: -3, max: 3 }), fc.constantFrom(MAX_PAYLOAD, 0xffffffff)),
  })
  .map(({ type, sid, body, lengthDelta }) => {
    const out = new Uint8Array(HEADER_LENGTH + body.length);
    const view = new DataView(out.buffer);
    out[0] = type;
    const length = lengthDelta >= MAX_PAYLOAD ? lengthDelta : Math.max(0, body.length + lengthDelta);
    view.setUint32(1, length >>> 0);
    view.setBigUint64(5, sid);
    out.set(body, HEADER_LENGTH);
    return out;
  });

const anyMessage = fc.oneof(fc.uint8Array({ maxLength: 80 }), headerish);

/** A well-formed frame: a known type with a SID that obeys the rule, payload within the limit. */
const wellFormed = fc
  .record({ type: fc.constantFrom(...KNOWN_FRAME_TYPES), sid: fc.bigInt({ min: 1n, max: 2n ** 64n - 1n }), payload: fc.uint8Array({ maxLength: 2048 }) })
  .map(({ type, sid, payload }) => ({ type, sessionId: type === FrameType.Ping || type === FrameType.Pong ? 0n : sid, payload }));

describe('fuzz: SBRP frame codec', () => {
  it('decodeFrame on arbitrary bytes: returns, or throws an SbrpError with the code the ordered checks name', () => {
    fc.assert(
      fc.property(anyMessage, (message) => {
        const code = codeOf(() => decodeFrame(message));
        if (code !== undefined) expect(DECODE_CODES).toContain(code);
        expect(code).toBe(expectedCode(message));
      }),
      fuzzParams(4000),
    );
  }, FUZZ_TIMEOUT_MS);

  it('validateFromSender on arbitrary bytes, either sender: only validation-order codes, in spec order; SessionID only on disallowed_sender', () => {
    fc.assert(
      fc.property(anyMessage, sender, (message, from) => {
        let thrown: SbrpError | undefined;
        const code = codeOf(() => {
          try {
            validateFromSender(message, from);
          } catch (error) {
            thrown = error as SbrpError;
            throw error;
          }
        });
        if (code !== undefined) expect(VALIDATE_CODES).toContain(code);
        expect(code).toBe(expectedCode(message, from));
        // Steps 1–4 answer with SID 0; only disallowed_sender names the header SID (sbrp.md §1).
        if (thrown && thrown.code !== 'disallowed_sender') expect(thrown.sessionId).toBe(0n);
      }),
      fuzzParams(4000),
    );
  }, FUZZ_TIMEOUT_MS);

  it('a decoded frame never reads outside its message: the payload is exactly the bytes after the header', () => {
    fc.assert(
      fc.property(anyMessage, (message) => {
        let frame;
        try {
          frame = decodeFrame(message);
        } catch {
          return;
        }
        expect(frame.payload.length).toBe(message.length - HEADER_LENGTH);
        expect(Buffer.from(encodeFrame(frame.type, frame.sessionId, frame.payload)).equals(Buffer.from(message))).toBe(true);
      }),
      fuzzParams(3000),
    );
  }, FUZZ_TIMEOUT_MS);

  it('encode → decode round-trips every well-formed frame', () => {
    fc.assert(
      fc.property(wellFormed, ({ type, sessionId, payload }) => {
        const decoded = decodeFrame(encodeFrame(type, sessionId, payload));
        expect(decoded.type).toBe(type);
        expect(decoded.sessionId).toBe(sessionId);
        expect(Buffer.from(decoded.payload).equals(Buffer.from(payload))).toBe(true);
      }),
      fuzzParams(2000),
    );
  }, FUZZ_TIMEOUT_MS);

  it('payload sizes at the limit: 65536 round-trips, 65537 is refused by the encoder and the decoder with payload_too_large', () => {
    fc.assert(
      fc.property(fc.constantFrom(MAX_PAYLOAD - 1, MAX_PAYLOAD, MAX_PAYLOAD + 1), fc.bigInt({ min: 1n, max: 2n ** 64n - 1n }), (size, sid) => {
        const payload = new Uint8Array(size).fill(0xab);
        if (size <= MAX_PAYLOAD) {
          expect(decodeFrame(encodeFrame(FrameType.Data, sid, payload)).payload.length).toBe(size);
          return;
        }
        expect(codeOf(() => encodeFrame(FrameType.Data, sid, payload))).toBe('payload_too_large');
        const message = new Uint8Array(HEADER_LENGTH + size);
        message[0] = FrameType.Data;
        new DataView(message.buffer).setUint32(1, size);
        new DataView(message.buffer).setBigUint64(5, sid);
        expect(codeOf(() => decodeFrame(message))).toBe('payload_too_large');
      }),
      fuzzParams(6),
    );
  }, FUZZ_TIMEOUT_MS);
});
