import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeFrame, encodeFrame, validateFromSender } from './frame-codec.js';
import { FrameType, HEADER_LENGTH, MAX_PAYLOAD } from './codes.js';
import { SbrpError } from './errors.js';
import { controlFrame, parseControl, parseSignal, signalFrame } from './frames.js';

const sessionBound = fc.constantFrom(FrameType.HandshakeInit, FrameType.HandshakeAccept, FrameType.Data, FrameType.Signal);
const uint64 = fc.bigInt({ min: 1n, max: (1n << 64n) - 1n });

describe('frame codec', () => {
  it('round-trips every session-bound frame (property)', () => {
    fc.assert(
      fc.property(sessionBound, uint64, fc.uint8Array({ maxLength: 2048 }), (type, sid, payload) => {
        const decoded = decodeFrame(encodeFrame(type, sid, payload));
        expect(decoded.type).toBe(type);
        expect(decoded.sessionId).toBe(sid);
        expect(decoded.payload).toEqual(payload);
      }),
    );
  });

  it('decodes arbitrary bytes to a frame or an SbrpError, never anything else (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.constantFrom('client' as const, 'daemon' as const), (bytes, sender) => {
        try {
          const frame = validateFromSender(bytes, sender);
          expect(HEADER_LENGTH + frame.payload.length).toBe(bytes.length);
        } catch (error) {
          expect(error).toBeInstanceOf(SbrpError);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('accepts the maximum payload and rejects one byte more as payload_too_large', () => {
    const max = encodeFrame(FrameType.Data, 1n, new Uint8Array(MAX_PAYLOAD));
    expect(decodeFrame(max).payload.length).toBe(MAX_PAYLOAD);
    const over = new Uint8Array(HEADER_LENGTH + MAX_PAYLOAD + 1);
    over[0] = FrameType.Data;
    new DataView(over.buffer).setUint32(1, MAX_PAYLOAD + 1);
    over[12] = 1;
    expect(() => decodeFrame(over)).toThrowError(expect.objectContaining({ code: 'payload_too_large' }));
    expect(() => encodeFrame(FrameType.Data, 1n, new Uint8Array(MAX_PAYLOAD + 1))).toThrow(SbrpError);
  });

  it('keeps the length check (step 1) ahead of the size check (step 2)', () => {
    const lying = new Uint8Array(HEADER_LENGTH + 10);
    lying[0] = FrameType.Data;
    new DataView(lying.buffer).setUint32(1, MAX_PAYLOAD + 1);
    expect(() => decodeFrame(lying)).toThrowError(expect.objectContaining({ code: 'malformed_frame' }));
  });

  it('round-trips Signal and Control payloads', () => {
    expect(parseSignal(decodeFrame(signalFrame(3n, 1, 2)))).toEqual({ signal: 1, reason: 2 });
    const control = parseControl(decodeFrame(controlFrame('backpressure', 0n, 'slow')));
    expect(control).toEqual({ code: 0x0902, message: 'slow' });
  });

  it('drops invalid UTF-8 diagnostics instead of failing the Control frame', () => {
    const frame = encodeFrame(FrameType.Control, 0n, Uint8Array.of(0x01, 0x01, 0xff, 0xfe));
    expect(parseControl(decodeFrame(frame))).toEqual({ code: 0x0101, message: '' });
  });

  it('refuses a Control frame without a code', () => {
    expect(() => parseControl(decodeFrame(encodeFrame(FrameType.Control, 0n, Uint8Array.of(1))))).toThrow(SbrpError);
  });
});
