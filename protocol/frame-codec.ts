import { HEADER_LENGTH, KNOWN_FRAME_TYPES, MAX_PAYLOAD, FrameType, isSessionBound } from './codes.js';
import { SbrpError } from './errors.js';

/** One SBRP frame: one binary WebSocket message (sbrp.md §1). */
export interface Frame {
  type: number;
  sessionId: bigint;
  /** A view into the received message (not a copy): copy it before keeping it past the handler. */
  payload: Uint8Array;
}

export type Sender = 'client' | 'daemon';

/** Encodes a frame: type(1) ‖ length(4, BE) ‖ sessionId(8, BE) ‖ payload. */
export function encodeFrame(type: number, sessionId: bigint, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(HEADER_LENGTH + Math.min(payload.length, MAX_PAYLOAD + 1));
  writeFrameHeader(out, type, sessionId, payload.length);
  out.set(payload, HEADER_LENGTH);
  return out;
}

/** Writes the 13-byte header of a frame whose payload follows in the same buffer. */
export function writeFrameHeader(out: Uint8Array, type: number, sessionId: bigint, payloadLength: number): void {
  if (payloadLength > MAX_PAYLOAD) throw new SbrpError('payload_too_large', `payload of ${payloadLength} bytes exceeds ${MAX_PAYLOAD}`);
  const view = new DataView(out.buffer, out.byteOffset, HEADER_LENGTH);
  view.setUint8(0, type);
  view.setUint32(1, payloadLength, false);
  view.setBigUint64(5, BigInt.asUintN(64, sessionId), false);
}

/**
 * Structural decode with the relay's validation steps 1–4 (sbrp.md §1), in order:
 * header and length → payload size → frame type → SessionID rule. Throws SbrpError.
 */
export function decodeFrame(message: Uint8Array): Frame {
  if (message.length < HEADER_LENGTH) {
    throw new SbrpError('malformed_frame', `frame of ${message.length} bytes is shorter than the 13-byte header`);
  }
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const type = view.getUint8(0);
  const length = view.getUint32(1, false);
  const sessionId = view.getBigUint64(5, false);
  if (HEADER_LENGTH + length !== message.length) {
    throw new SbrpError('malformed_frame', `length field ${length} disagrees with message size ${message.length}`);
  }
  if (length > MAX_PAYLOAD) {
    throw new SbrpError('payload_too_large', `payload of ${length} bytes exceeds ${MAX_PAYLOAD}`);
  }
  if (!KNOWN_FRAME_TYPES.has(type)) {
    throw new SbrpError('invalid_frame_type', `unknown frame type 0x${type.toString(16).padStart(2, '0')}`);
  }
  const pingPong = type === FrameType.Ping || type === FrameType.Pong;
  if ((isSessionBound(type) && sessionId === 0n) || (pingPong && sessionId !== 0n)) {
    throw new SbrpError('invalid_session_id', `frame type 0x${type.toString(16)} with SessionID ${sessionId}`);
  }
  return { type, sessionId, payload: message.subarray(HEADER_LENGTH) };
}

const CLIENT_FORBIDDEN: ReadonlySet<number> = new Set([FrameType.HandshakeAccept, FrameType.Signal, FrameType.Control]);
const DAEMON_FORBIDDEN: ReadonlySet<number> = new Set([FrameType.HandshakeInit, FrameType.Control]);

/**
 * The relay's full check of a frame from `sender`: steps 1–5 of sbrp.md §1, then the payload
 * length rules the relay itself parses (Ping/Pong ≤ 8, Signal = 2). The thrown SbrpError
 * carries the code and SessionID of the Control frame to answer with.
 */
export function validateFromSender(message: Uint8Array, sender: Sender): Frame {
  const frame = decodeFrame(message);
  const forbidden = sender === 'client' ? CLIENT_FORBIDDEN : DAEMON_FORBIDDEN;
  if (forbidden.has(frame.type)) {
    throw new SbrpError('disallowed_sender', `${sender} may not send frame type 0x${frame.type.toString(16)}`, frame.sessionId);
  }
  checkRelayParsedPayload(frame);
  return frame;
}

function checkRelayParsedPayload(frame: Frame): void {
  const n = frame.payload.length;
  if ((frame.type === FrameType.Ping || frame.type === FrameType.Pong) && n > 8) {
    throw new SbrpError('malformed_frame', `Ping/Pong payload of ${n} bytes exceeds 8`);
  }
  if (frame.type === FrameType.Signal && n !== 2) {
    throw new SbrpError('malformed_frame', `Signal payload must be 2 bytes, got ${n}`);
  }
}
