import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameType } from '../../protocol/codes.js';
import { encodeFrame } from '../../protocol/frame-codec.js';
import { decodeEnvelope, encodeEnvelope, EnvelopeError, EnvelopeType, type Envelope } from './envelope-codec.js';

/** The inter-node envelope is parsed from whatever arrives on a node's inbox: hostile input. */

const frame = encodeFrame(FrameType.Data, 7n, new Uint8Array(40).fill(3));
const base = { type: EnvelopeType.clientFrame, node: 'n1', did: 'dmn_abc', epoch: 5n, sid: 7n, seq: 1, code: 0, payload: frame } as const;

function malformed(bytes: Buffer): string {
  try {
    decodeEnvelope(bytes);
  } catch (error) {
    expect(error).toBeInstanceOf(EnvelopeError);
    expect((error as EnvelopeError).code).toBe('malformed_envelope');
    return (error as Error).message;
  }
  throw new Error(`accepted ${bytes.toString('hex')}`);
}

describe('envelope codec', () => {
  it('round-trips every type with the frame bytes unchanged', () => {
    const decoded = decodeEnvelope(encodeEnvelope(base));
    expect(decoded).toMatchObject({ type: 1, node: 'n1', did: 'dmn_abc', epoch: 5n, sid: 7n, seq: 1, code: 0 });
    expect(Buffer.from(decoded.payload).equals(Buffer.from(frame))).toBe(true);
    const gone = decodeEnvelope(encodeEnvelope({ ...base, type: EnvelopeType.daemonGone, sid: 0n, payload: undefined }));
    expect(gone).toMatchObject({ type: EnvelopeType.daemonGone, sid: 0n });
    expect(gone.payload).toHaveLength(0);
    const probe = decodeEnvelope(encodeEnvelope({ ...base, type: EnvelopeType.probe, did: '', sid: 0n, payload: undefined }));
    expect(probe.did).toBe('');
  });

  it('round-trips arbitrary field values (property)', () => {
    fc.assert(fc.property(
      fc.constantFrom(EnvelopeType.clientFrame, EnvelopeType.daemonFrame),
      fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/),
      fc.string({ minLength: 1, maxLength: 60 }),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      fc.bigInt({ min: 1n, max: 2n ** 64n - 1n }),
      fc.nat({ max: 0xffff_ffff }),
      fc.uint8Array({ minLength: 0, maxLength: 300 }),
      (type, node, did, epoch, sid, seq, body) => {
        const payload = encodeFrame(FrameType.Data, sid, body);
        const e: Envelope = { type, node, did, epoch, sid, seq, code: 0, payload };
        const decoded = decodeEnvelope(encodeEnvelope(e));
        expect({ ...decoded, payload: Buffer.from(decoded.payload) }).toEqual({ ...e, payload: Buffer.from(payload) });
      },
    ), { numRuns: 200 });
  });

  it('refuses truncations at every length and any unknown version or type', () => {
    const whole = encodeEnvelope(base);
    for (let n = 0; n < whole.length - frame.length; n++) malformed(whole.subarray(0, n));
    const badVersion = Buffer.from(whole);
    badVersion[0] = 2;
    expect(malformed(badVersion)).toMatch(/version/);
    for (const type of [0, 11, 255]) {
      const bad = Buffer.from(whole);
      bad[1] = type;
      expect(malformed(bad)).toMatch(/type/);
    }
  });

  it('refuses bad node ids, a daemon id that is not UTF-8, and an empty daemon id', () => {
    const whole = encodeEnvelope(base);
    const zeroNode = Buffer.from(whole);
    zeroNode[2] = 0;
    malformed(zeroNode);
    const longNode = Buffer.from(whole);
    longNode[2] = 65;
    malformed(longNode);
    const spaceNode = Buffer.from(whole);
    spaceNode[3] = 0x20;
    expect(malformed(spaceNode)).toMatch(/node id/);
    const badUtf8 = Buffer.from(whole);
    badUtf8[3 + 2 + 1] = 0xff; // first byte of the daemon id
    expect(malformed(badUtf8)).toMatch(/UTF-8/);
    expect(malformed(encodeEnvelope({ ...base, did: '' }))).toMatch(/empty daemon id/);
    expect(() => encodeEnvelope({ ...base, node: 'has space' })).toThrow(EnvelopeError);
    expect(() => encodeEnvelope({ ...base, did: 'x'.repeat(256) })).toThrow(EnvelopeError);
  });

  it('refuses a SessionID rule broken either way and payloads where none or a frame belongs', () => {
    expect(malformed(encodeEnvelope({ ...base, sid: 0n }))).toMatch(/SessionID 0/);
    expect(malformed(encodeEnvelope({ ...base, type: EnvelopeType.ownerChanged, payload: undefined }))).toMatch(/with a SessionID/);
    expect(malformed(encodeEnvelope({ ...base, payload: new Uint8Array(12) }))).toMatch(/frame of 12 bytes/);
    expect(malformed(encodeEnvelope({ ...base, payload: new Uint8Array(13 + 65536 + 1) }))).toMatch(/frame of/);
    expect(malformed(encodeEnvelope({ ...base, type: EnvelopeType.sessionLost, payload: new Uint8Array(1) }))).toMatch(/payload on a control/);
    expect(malformed(encodeEnvelope({ ...base, type: EnvelopeType.credit, code: 3, payload: undefined }))).toMatch(/credit/);
    expect(decodeEnvelope(encodeEnvelope({ ...base, type: EnvelopeType.credit, code: 2, seq: 65536, payload: undefined }))).toMatchObject({ seq: 65536, code: 2 });
  });

  it('never throws anything but EnvelopeError on random bytes (fuzz)', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), (bytes) => {
      try {
        decodeEnvelope(Buffer.from(bytes));
      } catch (error) {
        expect(error).toBeInstanceOf(EnvelopeError);
      }
    }), { numRuns: 2000 });
  });
});
