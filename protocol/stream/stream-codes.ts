/**
 * Codes and limits of the inner stream protocol that runs inside one SBRP session
 * (docs/protocol.md). Every inner frame is the plaintext of exactly one SBRP Data frame.
 */

/** Highest inner protocol version this implementation speaks (docs/protocol.md §3, §10). */
export const INNER_VERSION = 2;
/** Every version spoken, announced in HELLO; the highest one both sides list is used. */
export const INNER_VERSIONS: readonly number[] = [1, 2];
export const INNER_HEADER_LENGTH = 5; // kind(1) ‖ streamId(4)

export const InnerKind = {
  HELLO: 0x00,
  OPEN: 0x01,
  HEAD: 0x02,
  DATA: 0x03,
  END: 0x04,
  RESET: 0x05,
  CREDIT: 0x06,
  MESSAGE: 0x07,
  EVENT: 0x08,
  PING: 0x09,
  PONG: 0x0a,
  GOAWAY: 0x0b,
  ERROR: 0x0c,
} as const;
export type InnerKind = (typeof InnerKind)[keyof typeof InnerKind];

/** RESET and ERROR codes. Stable: pages and handlers branch on them. */
export const StreamCode = {
  cancel: 0x0001,
  internal: 0x0002,
  refused: 0x0003,
  protocol: 0x0004,
  flow_control: 0x0005,
  timeout: 0x0006,
  session_closed: 0x0007,
  head_too_large: 0x0008,
  going_away: 0x0009,
  message_too_large: 0x000a,
  version: 0x000b,
} as const;
export type StreamCodeName = keyof typeof StreamCode;

const names = new Map<number, StreamCodeName>(Object.entries(StreamCode).map(([k, v]) => [v, k as StreamCodeName]));

export function streamCodeName(code: number): StreamCodeName {
  return names.get(code) ?? 'internal';
}

/** MESSAGE flags (channels). */
export const MessageFlag = { text: 0x01, fin: 0x02 } as const;

/**
 * Credit a channel message costs on top of its payload, charged on its fin fragment
 * (docs/protocol.md §5). Without it an empty or tiny message would cost (almost) nothing, so
 * a compliant sender could queue any number of them at a receiver that had not read yet; with
 * it, the window bounds the count of queued messages as well as their bytes.
 */
export const MESSAGE_COST = 256;

/**
 * Limits a side announces in HELLO (what it accepts) and applies locally. Every buffer in the
 * multiplexer is bounded by one of these (style.md §7).
 */
export interface StreamLimits {
  /** Bytes of DATA/MESSAGE the peer may send on one stream before credit (receive window). */
  streamWindow: number;
  /** Bytes of DATA/MESSAGE the peer may send across all streams before credit. */
  sessionWindow: number;
  /** Concurrent streams the peer may open towards us. */
  maxStreams: number;
  /** Largest encoded head (OPEN/HEAD body) accepted. */
  maxHeadBytes: number;
  /**
   * Largest body piece we send in one frame. Smaller pieces interleave streams more finely;
   * larger ones cost fewer frames (each one a cipher call and a socket write on every hop).
   */
  maxChunk: number;
  /** A writer's `write()` resolves once its stream has at most this many bytes queued. */
  writeHighWater: number;
  /** Streams we wait to open while the peer is at its `maxStreams`. */
  maxPendingOpens: number;
  /** Largest channel message reassembled from MESSAGE fragments. */
  maxMessageBytes: number;
  /** Largest EVENT body we send; never above MAX_EVENT_BYTES, what every peer accepts. */
  maxEventBytes: number;
}

export const STREAM_DEFAULTS: StreamLimits = {
  streamWindow: 256 * 1024,
  sessionWindow: 1024 * 1024,
  maxStreams: 256,
  maxHeadBytes: 32 * 1024,
  maxChunk: 16 * 1024,
  writeHighWater: 64 * 1024,
  maxPendingOpens: 1024,
  maxMessageBytes: 1024 * 1024,
  maxEventBytes: 32 * 1024,
};

/** Largest inner body: SBRP plaintext limit (65508) minus the inner header. */
export const MAX_INNER_BODY = 65508 - INNER_HEADER_LENGTH;

/**
 * Limits for endpoints with a native cipher (the daemon, the Node client): body pieces of a
 * whole frame, where STREAM_DEFAULTS keeps 16 KiB for a service worker sealing with noble.
 * Per piece, every hop pays a cipher call and a socket write; 64 KiB pieces pay it a quarter
 * as often (issue 9: `npm run bench -- --only throughput`). The write high-water mark is two
 * pieces, so a writer of 64 KiB chunks keeps a full frame queued.
 */
export const FULL_FRAME_LIMITS: Readonly<Pick<StreamLimits, 'maxChunk' | 'writeHighWater'>> = Object.freeze({
  maxChunk: MAX_INNER_BODY,
  writeHighWater: 128 * 1024,
});


/** Largest EVENT body: fixed by the protocol, not announced in HELLO (docs/protocol.md §3). */
export const MAX_EVENT_BYTES = 32 * 1024;

/** Largest RESET/ERROR reason, in UTF-8 bytes (docs/protocol.md §2). */
export const MAX_REASON_BYTES = 512;

/** PINGs a side may have unanswered (docs/protocol.md §8). */
export const MAX_OUTSTANDING_PINGS = 16;
