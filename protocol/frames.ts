import {
  FrameType, HANDSHAKE_ACCEPT_LENGTH, HANDSHAKE_INIT_LENGTH, MIN_DATA_PAYLOAD, SIGNAL_LENGTH, MAX_PING_PAYLOAD,
  ControlCode, SignalReason, type ControlName,
} from './codes.js';
import { encodeFrame, type Frame } from './frame-codec.js';
import { SbrpError } from './errors.js';
import { concatBytes, fromUtf8, utf8 } from './bytes.js';

/** Builders and payload parsers for each frame type (sbrp.md §1 table). */

export function handshakeInitFrame(sessionId: bigint, clientEphemeral: Uint8Array): Uint8Array {
  expectLength(clientEphemeral, HANDSHAKE_INIT_LENGTH, 'HandshakeInit payload');
  return encodeFrame(FrameType.HandshakeInit, sessionId, clientEphemeral);
}

export interface HandshakeAcceptPayload {
  identityPublicKey: Uint8Array;
  daemonEphemeral: Uint8Array;
  signature: Uint8Array;
}

export function handshakeAcceptFrame(sessionId: bigint, accept: HandshakeAcceptPayload): Uint8Array {
  const payload = concatBytes(accept.identityPublicKey, accept.daemonEphemeral, accept.signature);
  expectLength(payload, HANDSHAKE_ACCEPT_LENGTH, 'HandshakeAccept payload');
  return encodeFrame(FrameType.HandshakeAccept, sessionId, payload);
}

/** Splits a HandshakeAccept payload; a length other than 128 is malformed_frame (sbrp.md §1 Decision). */
export function parseHandshakeAccept(frame: Frame): HandshakeAcceptPayload {
  expectLength(frame.payload, HANDSHAKE_ACCEPT_LENGTH, 'HandshakeAccept payload', frame.sessionId);
  const p = frame.payload;
  return { identityPublicKey: p.slice(0, 32), daemonEphemeral: p.slice(32, 64), signature: p.slice(64, 128) };
}

export function parseHandshakeInit(frame: Frame): Uint8Array {
  expectLength(frame.payload, HANDSHAKE_INIT_LENGTH, 'HandshakeInit payload', frame.sessionId);
  return frame.payload.slice();
}

export function checkDataPayload(frame: Frame): void {
  if (frame.payload.length < MIN_DATA_PAYLOAD) {
    throw new SbrpError('malformed_frame', `Data payload of ${frame.payload.length} bytes is under ${MIN_DATA_PAYLOAD}`, frame.sessionId);
  }
}

export interface SignalPayload {
  signal: number;
  reason: number;
}

export function signalFrame(sessionId: bigint, signal: number, reason: number = SignalReason.none): Uint8Array {
  return encodeFrame(FrameType.Signal, sessionId, Uint8Array.of(signal, reason));
}

/** Parses a Signal; an unknown reason reads as `none` (sbrp.md §1). */
export function parseSignal(frame: Frame): SignalPayload {
  expectLength(frame.payload, SIGNAL_LENGTH, 'Signal payload', frame.sessionId);
  const reason = frame.payload[1]!;
  return { signal: frame.payload[0]!, reason: reason <= SignalReason.error ? reason : SignalReason.none };
}

export function pingFrame(payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  if (payload.length > MAX_PING_PAYLOAD) throw new RangeError('Ping payload is at most 8 bytes');
  return encodeFrame(FrameType.Ping, 0n, payload);
}

export function pongFrame(payload: Uint8Array): Uint8Array {
  if (payload.length > MAX_PING_PAYLOAD) throw new RangeError('Pong payload is at most 8 bytes');
  return encodeFrame(FrameType.Pong, 0n, payload);
}

export interface ControlPayload {
  code: number;
  /** Diagnostics only: nothing may act on it (sbrp.md §1). */
  message: string;
}

export function controlFrame(code: ControlName | number, sessionId = 0n, text = ''): Uint8Array {
  const numeric = typeof code === 'number' ? code : ControlCode[code];
  return encodeFrame(FrameType.Control, sessionId, concatBytes(Uint8Array.of(numeric >> 8, numeric & 0xff), utf8(text)));
}

export function parseControl(frame: Frame): ControlPayload {
  if (frame.payload.length < 2) {
    throw new SbrpError('malformed_frame', `Control payload of ${frame.payload.length} bytes lacks a code`);
  }
  const code = (frame.payload[0]! << 8) | frame.payload[1]!;
  let message = '';
  try {
    message = fromUtf8(frame.payload.subarray(2));
  } catch {
    message = ''; // diagnostics only; invalid UTF-8 is dropped rather than failing the frame
  }
  return { code, message };
}

function expectLength(bytes: Uint8Array, length: number, what: string, sessionId = 0n): void {
  if (bytes.length !== length) {
    throw new SbrpError('malformed_frame', `${what} must be ${length} bytes, got ${bytes.length}`, sessionId);
  }
}
