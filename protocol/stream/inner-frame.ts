import { Decoder, Encoder } from '@msgpack/msgpack';
import { fromUtf8, utf8 } from '../bytes.js';
import { INNER_HEADER_LENGTH, MAX_INNER_BODY, MAX_REASON_BYTES } from './stream-codes.js';
import { StreamError } from './stream-error.js';

/** Inner frame: kind(1) ‖ streamId(4, BE uint32) ‖ body (docs/protocol.md §2). */
export interface InnerFrame {
  kind: number;
  streamId: number;
  body: Uint8Array;
}

export function encodeInner(kind: number, streamId: number, body: Uint8Array = new Uint8Array(0)): Uint8Array {
  if (body.length > MAX_INNER_BODY) throw new StreamError('protocol', `inner body of ${body.length} bytes exceeds ${MAX_INNER_BODY}`);
  const out = new Uint8Array(INNER_HEADER_LENGTH + body.length);
  writeInnerHeader(out, kind, streamId);
  out.set(body, INNER_HEADER_LENGTH);
  return out;
}

/** Writes kind and stream id into the first 5 bytes of `out`, whose body the caller fills. */
export function writeInnerHeader(out: Uint8Array, kind: number, streamId: number): void {
  out[0] = kind;
  out[1] = streamId >>> 24;
  out[2] = (streamId >>> 16) & 0xff;
  out[3] = (streamId >>> 8) & 0xff;
  out[4] = streamId & 0xff;
}

export function decodeInner(bytes: Uint8Array): InnerFrame {
  if (bytes.length < INNER_HEADER_LENGTH) throw new StreamError('protocol', `inner frame of ${bytes.length} bytes is shorter than its header`);
  const streamId = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(1, false);
  return { kind: bytes[0]!, streamId, body: bytes.subarray(INNER_HEADER_LENGTH) };
}

/**
 * RESET and ERROR bodies: code(2, BE) ‖ UTF-8 reason of at most 512 bytes (docs/protocol.md §2).
 * A longer reason is cut at a character boundary, never mid-sequence.
 */
export function encodeCodeReason(code: number, reason = ''): Uint8Array {
  let text = utf8(reason);
  if (text.length > MAX_REASON_BYTES) {
    let end = MAX_REASON_BYTES;
    while (end > 0 && (text[end]! & 0xc0) === 0x80) end--; // back off continuation bytes
    text = text.subarray(0, end);
  }
  const out = new Uint8Array(2 + text.length);
  out[0] = code >> 8;
  out[1] = code & 0xff;
  out.set(text, 2);
  return out;
}

/**
 * Strict by default (RESET): a body without a code, a reason over 512 bytes or one that is not
 * UTF-8 is malformed. `lenient` (ERROR, which ends the session anyway): only the code counts.
 */
export function decodeCodeReason(body: Uint8Array, lenient = false): { code: number; reason: string } {
  if (body.length < 2) throw new StreamError('protocol', 'RESET/ERROR body lacks a code');
  const code = (body[0]! << 8) | body[1]!;
  const raw = body.subarray(2);
  if (raw.length > MAX_REASON_BYTES) {
    if (!lenient) throw new StreamError('protocol', `reason of ${raw.length} bytes exceeds ${MAX_REASON_BYTES}`);
    return { code, reason: '' };
  }
  try {
    return { code, reason: fromUtf8(raw) };
  } catch {
    if (!lenient) throw new StreamError('protocol', 'reason is not valid UTF-8');
    return { code, reason: '' };
  }
}

export function encodeUint32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0, false);
  return out;
}

export function decodeUint32(body: Uint8Array, what: string): number {
  if (body.length !== 4) throw new StreamError('protocol', `${what} body must be 4 bytes, got ${body.length}`);
  return new DataView(body.buffer, body.byteOffset, 4).getUint32(0, false);
}

/** Version-2 stream CREDIT body: stream increment(4) ‖ session increment(4) (docs/protocol.md §5). */
export function encodeCombinedCredit(stream: number, session: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, stream, false);
  view.setUint32(4, session, false);
  return out;
}

export function decodeCombinedCredit(body: Uint8Array): { stream: number; session: number } {
  if (body.length !== 8) throw new StreamError('protocol', `combined CREDIT body must be 8 bytes, got ${body.length}`);
  const view = new DataView(body.buffer, body.byteOffset, 8);
  return { stream: view.getUint32(0, false), session: view.getUint32(4, false) };
}

/** GOAWAY body: lastStreamId(4) ‖ code(2). */
export function encodeGoaway(lastStreamId: number, code: number): Uint8Array {
  const out = new Uint8Array(6);
  const view = new DataView(out.buffer);
  view.setUint32(0, lastStreamId >>> 0, false);
  view.setUint16(4, code, false);
  return out;
}

export function decodeGoaway(body: Uint8Array): { lastStreamId: number; code: number } {
  if (body.length !== 6) throw new StreamError('protocol', `GOAWAY body must be 6 bytes, got ${body.length}`);
  const view = new DataView(body.buffer, body.byteOffset, 6);
  return { lastStreamId: view.getUint32(0, false), code: view.getUint16(4, false) };
}

// Structured bodies (HELLO, OPEN, HEAD, EVENT) are MessagePack with hard decoder limits, so a
// hostile peer cannot make us allocate more than one frame's worth.
const decoder = new Decoder({
  maxStrLength: MAX_INNER_BODY,
  maxBinLength: MAX_INNER_BODY,
  maxArrayLength: 4096,
  maxMapLength: 256,
  maxExtLength: 0,
});

// One encoder for every structured body: msgpack's `encode()` builds an Encoder, with a fresh
// 2 KiB buffer, per call, i.e. per request head both ways (issue 9 profiles: 1-2% of a small
// request's CPU). `encode` returns a copy, so nothing handed out shares this buffer.
const encoder = new Encoder();

export function encodePacked(value: unknown): Uint8Array {
  return encoder.encode(value);
}

export function decodePacked(body: Uint8Array, what: string): unknown {
  try {
    return decoder.decode(body);
  } catch (error) {
    throw new StreamError('protocol', `${what}: invalid MessagePack (${(error as Error).message})`);
  }
}
