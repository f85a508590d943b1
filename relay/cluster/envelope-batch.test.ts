import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameType } from '../../protocol/codes.js';
import { encodeFrame } from '../../protocol/frame-codec.js';
import { BATCH_TYPE, encodeBatch, isBatch, MAX_BATCH_BYTES, MAX_BATCH_ENVELOPES, MAX_ENVELOPE_BYTES, splitBatch } from './envelope-batch.js';
import { decodeEnvelope, encodeEnvelope, EnvelopeError, EnvelopeType } from './envelope-codec.js';

/** A batch arrives on the inbox from another node: hostile input, checked whole before use. */

const frame = encodeFrame(FrameType.Data, 7n, new Uint8Array(40).fill(3));
const envelope = (seq: number): Buffer => encodeEnvelope({ type: EnvelopeType.clientFrame, node: 'n1', did: 'dmn_abc', epoch: 5n, sid: 7n, seq, code: 0, payload: frame });

function refused(bytes: Buffer): string {
  try {
    splitBatch(bytes);
  } catch (error) {
    expect(error).toBeInstanceOf(EnvelopeError);
    expect((error as EnvelopeError).code).toBe('malformed_envelope');
    return (error as Error).message;
  }
  throw new Error(`accepted ${bytes.toString('hex').slice(0, 80)}`);
}

describe('envelope batch', () => {
  it('round-trips envelopes in order, each decodable on its own', () => {
    const parts = [envelope(0), envelope(1), encodeEnvelope({ type: EnvelopeType.credit, node: 'n1', did: 'dmn_abc', epoch: 5n, sid: 7n, seq: 4096, code: 2 })];
    const batch = encodeBatch(parts);
    expect(isBatch(batch)).toBe(true);
    expect(isBatch(parts[0]!)).toBe(false);
    const split = splitBatch(batch);
    expect(split.map((p) => p.equals(parts[split.indexOf(p)]!))).toEqual([true, true, true]);
    expect(split.map((p) => decodeEnvelope(p).seq)).toEqual([0, 1, 4096]);
  });

  it('round-trips any number of envelopes up to the limit (property)', () => {
    fc.assert(fc.property(fc.array(fc.nat({ max: 0xffff_ffff }), { minLength: 1, maxLength: MAX_BATCH_ENVELOPES }), (seqs) => {
      expect(splitBatch(encodeBatch(seqs.map(envelope))).map((p) => decodeEnvelope(p).seq)).toEqual(seqs);
    }), { numRuns: 100 });
  });

  it('refuses to build an empty, over-count or over-size batch', () => {
    expect(() => encodeBatch([])).toThrow(EnvelopeError);
    expect(() => encodeBatch(Array.from({ length: MAX_BATCH_ENVELOPES + 1 }, (_, i) => envelope(i)))).toThrow(EnvelopeError);
    const big = encodeEnvelope({ type: EnvelopeType.clientFrame, node: 'n1', did: 'd', epoch: 1n, sid: 1n, seq: 0, code: 0, payload: encodeFrame(FrameType.Data, 1n, new Uint8Array(65536)) });
    expect(big.length).toBeLessThanOrEqual(MAX_ENVELOPE_BYTES);
    expect(() => encodeBatch([big, big, big, big])).toThrow(/bytes/);
  });

  it('refuses truncation at every length', () => {
    const whole = encodeBatch([envelope(0), envelope(1)]);
    for (let n = 2; n < whole.length; n++) refused(whole.subarray(0, n));
  });

  it('refuses counts that lie either way, zero, and over the limit', () => {
    const whole = encodeBatch([envelope(0), envelope(1)]);
    const more = Buffer.from(whole);
    more.writeUInt16BE(3, 2);
    expect(refused(more)).toMatch(/truncated/);
    const fewer = Buffer.from(whole);
    fewer.writeUInt16BE(1, 2);
    expect(refused(fewer)).toMatch(/after the last/);
    const zero = Buffer.from(whole);
    zero.writeUInt16BE(0, 2);
    expect(refused(zero)).toMatch(/count 0/);
    const over = Buffer.from(whole);
    over.writeUInt16BE(MAX_BATCH_ENVELOPES + 1, 2);
    expect(refused(over)).toMatch(/out of range/);
  });

  it('refuses part lengths that lie, tiny or huge, and a message over the byte limit', () => {
    const whole = encodeBatch([envelope(0), envelope(1)]);
    const longer = Buffer.from(whole);
    longer.writeUInt32BE(envelope(0).length + 1, 4);
    refused(longer);
    const tiny = Buffer.from(whole);
    tiny.writeUInt32BE(3, 4);
    expect(refused(tiny)).toMatch(/batched envelope of 3 bytes/);
    const huge = Buffer.from(whole);
    huge.writeUInt32BE(0xffff_ffff, 4);
    expect(refused(huge)).toMatch(/batched envelope of/);
    const oversize = Buffer.alloc(MAX_BATCH_BYTES + 1);
    whole.copy(oversize);
    expect(refused(oversize)).toMatch(/over the limit/);
  });

  it('refuses a batch nested in a batch (decodeEnvelope never takes one)', () => {
    const inner = encodeBatch([envelope(0), envelope(1)]);
    const outer = encodeBatch([inner]);
    const [part] = splitBatch(outer);
    expect(part![1]).toBe(BATCH_TYPE);
    expect(() => decodeEnvelope(part!)).toThrow(/batches do not nest/);
  });

  it('never throws anything but EnvelopeError on random bytes after a batch header (fuzz)', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), (bytes) => {
      const message = Buffer.concat([Buffer.from([1, BATCH_TYPE]), bytes]);
      try {
        for (const part of splitBatch(message)) decodeEnvelope(part);
      } catch (error) {
        expect(error).toBeInstanceOf(EnvelopeError);
      }
    }), { numRuns: 2000 });
  });
});
