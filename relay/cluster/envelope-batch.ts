import { HEADER_LENGTH, MAX_PAYLOAD } from '../../protocol/codes.js';
import { BATCH_TYPE, ENVELOPE_VERSION, EnvelopeError, MAX_DAEMON_ID_BYTES, MAX_NODE_ID_LENGTH } from './envelope-codec.js';

/**
 * Several envelopes for one node in one inbox message, so Redis parses, fans out and delivers
 * one PUBLISH instead of one per frame (the per-message cost dominated the cross-node hop):
 *
 *   0  version   u8 (1, as an envelope's)
 *   1  type      u8 (BATCH_TYPE, a value no single envelope uses)
 *   2  count     u16 BE, 1..MAX_BATCH_ENVELOPES
 *   4  count × { length u32 BE, then one envelope (encodeEnvelope) of that many bytes }
 *
 * The envelopes keep their order, so hop sequence numbers and epochs are checked per envelope
 * exactly as if each had come alone. A batch is never nested: each part goes through
 * decodeEnvelope, which refuses BATCH_TYPE.
 */
export { BATCH_TYPE };
/** Envelopes per batch at most (sender flushes when full; receiver refuses more). */
export const MAX_BATCH_ENVELOPES = 64;
/** Bytes of a whole batch message at most (sender flushes before exceeding; receiver refuses more). */
export const MAX_BATCH_BYTES = 256 * 1024;
export const BATCH_HEADER_LENGTH = 4;
/** Per-envelope length prefix. */
export const BATCH_PART_OVERHEAD = 4;
/** The largest envelope: every variable field at its maximum and a frame of the largest payload. */
export const MAX_ENVELOPE_BYTES = 1 + 1 + 1 + MAX_NODE_ID_LENGTH + 1 + MAX_DAEMON_ID_BYTES + 8 + 8 + 4 + 2 + HEADER_LENGTH + MAX_PAYLOAD;
/** Shortest possible envelope (see decodeEnvelope); a shorter part cannot be one. */
const MIN_ENVELOPE_BYTES = 1 + 1 + 1 + 1 + 1 + 8 + 8 + 4 + 2;

/** Whether an inbox message is a batch container rather than a single envelope. */
export function isBatch(message: Uint8Array): boolean {
  return message.length >= 2 && message[0] === ENVELOPE_VERSION && message[1] === BATCH_TYPE;
}

/** Wraps envelopes (already encoded) into one message; the caller keeps within the limits. */
export function encodeBatch(envelopes: readonly Uint8Array[]): Buffer {
  if (envelopes.length === 0 || envelopes.length > MAX_BATCH_ENVELOPES) throw new EnvelopeError(`batch of ${envelopes.length} envelopes`);
  let size = BATCH_HEADER_LENGTH;
  for (const e of envelopes) size += BATCH_PART_OVERHEAD + e.length;
  if (size > MAX_BATCH_BYTES) throw new EnvelopeError(`batch of ${size} bytes`);
  const out = Buffer.allocUnsafe(size);
  out[0] = ENVELOPE_VERSION;
  out[1] = BATCH_TYPE;
  out.writeUInt16BE(envelopes.length, 2);
  let at = BATCH_HEADER_LENGTH;
  for (const e of envelopes) {
    out.writeUInt32BE(e.length, at);
    out.set(e, at + BATCH_PART_OVERHEAD);
    at += BATCH_PART_OVERHEAD + e.length;
  }
  return out;
}

/**
 * Splits a batch into its envelopes' bytes (views, not copies), each still to be checked with
 * decodeEnvelope. The container is hostile input: its framing is checked whole before anything
 * is handed out, and any lie (count, lengths, trailing bytes, sizes over the limits) refuses the
 * entire message with an EnvelopeError.
 */
export function splitBatch(message: Buffer): Buffer[] {
  if (!isBatch(message)) throw new EnvelopeError('not a batch');
  if (message.length > MAX_BATCH_BYTES) throw new EnvelopeError(`batch of ${message.length} bytes is over the limit`);
  if (message.length < BATCH_HEADER_LENGTH) throw new EnvelopeError('truncated batch header');
  const count = message.readUInt16BE(2);
  if (count === 0 || count > MAX_BATCH_ENVELOPES) throw new EnvelopeError(`batch count ${count} out of range`);
  const parts: Buffer[] = [];
  let at = BATCH_HEADER_LENGTH;
  for (let i = 0; i < count; i++) {
    if (message.length < at + BATCH_PART_OVERHEAD) throw new EnvelopeError(`batch truncated at envelope ${i} of ${count}`);
    const length = message.readUInt32BE(at);
    at += BATCH_PART_OVERHEAD;
    if (length < MIN_ENVELOPE_BYTES || length > MAX_ENVELOPE_BYTES) throw new EnvelopeError(`batched envelope of ${length} bytes`);
    if (message.length < at + length) throw new EnvelopeError(`batch truncated in envelope ${i} of ${count}`);
    parts.push(message.subarray(at, at + length));
    at += length;
  }
  if (at !== message.length) throw new EnvelopeError(`${message.length - at} bytes after the last batched envelope`);
  return parts;
}
