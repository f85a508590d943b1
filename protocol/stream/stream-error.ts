import { StreamCode, streamCodeName, type StreamCodeName } from './stream-codes.js';

/**
 * Why a stream (or the whole inner session) failed. `code` is a stable name from
 * StreamCode; `remote` tells whether the peer reported it (RESET/ERROR) or we did.
 */
export class StreamError extends Error {
  override readonly name = 'StreamError';
  readonly code: StreamCodeName;
  readonly remote: boolean;

  constructor(code: StreamCodeName, message: string, remote = false) {
    super(message);
    this.code = code;
    this.remote = remote;
  }

  get numericCode(): number {
    return StreamCode[this.code];
  }

  /**
   * A code the peer sent. `session_closed` is local only (docs/protocol.md §6): on the wire it
   * reads as `internal`, like an unknown code, so it never looks like a retryable session loss.
   */
  static fromWire(code: number, reason: string): StreamError {
    const name = code === StreamCode.session_closed ? 'internal' : streamCodeName(code);
    return new StreamError(name, reason || `peer reset: ${name}`, true);
  }
}
