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

  static fromWire(code: number, reason: string): StreamError {
    return new StreamError(streamCodeName(code), reason || `peer reset: ${streamCodeName(code)}`, true);
  }
}
