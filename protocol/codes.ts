/**
 * Every code SBRP puts on the wire, plus the endpoint-only error codes (sbrp.md §1, §3).
 * Behaviour depends on these numbers alone, never on Control text.
 */

export const FrameType = {
  HandshakeInit: 0x01,
  HandshakeAccept: 0x02,
  Data: 0x03,
  Signal: 0x04,
  Ping: 0x10,
  Pong: 0x11,
  Control: 0x20,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export const KNOWN_FRAME_TYPES: ReadonlySet<number> = new Set(Object.values(FrameType));

/** Frame types that carry a non-zero SessionID (sbrp.md §1 validation step 4). */
export function isSessionBound(type: number): boolean {
  return type >= 0x01 && type <= 0x04;
}

export const SignalCode = { ready: 0x00, close: 0x01 } as const;
export type SignalCode = (typeof SignalCode)[keyof typeof SignalCode];

export const SignalReason = { none: 0x00, state_lost: 0x01, shutdown: 0x02, policy: 0x03, error: 0x04 } as const;
export type SignalReason = (typeof SignalReason)[keyof typeof SignalReason];

export const ControlCode = {
  unauthorized: 0x0101,
  forbidden: 0x0102,
  daemon_not_found: 0x0201,
  daemon_offline: 0x0202,
  session_not_found: 0x0301,
  session_expired: 0x0302,
  malformed_frame: 0x0401,
  payload_too_large: 0x0402,
  invalid_frame_type: 0x0403,
  invalid_session_id: 0x0404,
  disallowed_sender: 0x0405,
  internal_error: 0x0601,
  rate_limited: 0x0901,
  backpressure: 0x0902,
  session_paused: 0x1001,
  session_resumed: 0x1002,
  session_ended: 0x1003,
  session_pending: 0x1004,
} as const;
export type ControlName = keyof typeof ControlCode;
export type ControlCode = (typeof ControlCode)[ControlName];

const controlNames = new Map<number, ControlName>(
  Object.entries(ControlCode).map(([name, code]) => [code, name as ControlName]),
);

export function controlName(code: number): ControlName | undefined {
  return controlNames.get(code);
}

/** Non-terminal codes (N in sbrp.md §3). session_not_found is N only on a daemon connection. */
const NON_TERMINAL: ReadonlySet<number> = new Set([
  ControlCode.rate_limited,
  ControlCode.session_paused,
  ControlCode.session_resumed,
  ControlCode.session_ended,
  ControlCode.session_pending,
]);

/**
 * Whether a Control code ends the connection for this receiver. Unknown codes are terminal
 * (sbrp.md §3: "An endpoint treats any Control code it does not know as terminal").
 */
export function isTerminalControl(code: number, receiver: 'client' | 'daemon'): boolean {
  if (code === ControlCode.session_not_found) return receiver === 'client';
  return !NON_TERMINAL.has(code);
}

/** Endpoint-only codes, never on the wire (sbrp.md §3). */
export const EndpointCode = {
  identity_key_changed: 0xe001,
  handshake_failed: 0xe002,
  handshake_timeout: 0xe003,
  decrypt_failed: 0xe004,
  sequence_error: 0xe005,
} as const;
export type EndpointCodeName = keyof typeof EndpointCode;

/** Limits fixed by the wire format (sbrp.md §1). */
export const HEADER_LENGTH = 13;
export const MAX_PAYLOAD = 65536;
export const NONCE_LENGTH = 12;
export const TAG_LENGTH = 16;
export const MIN_DATA_PAYLOAD = NONCE_LENGTH + TAG_LENGTH;
export const MAX_PLAINTEXT = MAX_PAYLOAD - MIN_DATA_PAYLOAD;
export const MAX_PING_PAYLOAD = 8;
export const HANDSHAKE_INIT_LENGTH = 32;
export const HANDSHAKE_ACCEPT_LENGTH = 128;
export const SIGNAL_LENGTH = 2;
