/**
 * Client frames that arrived for a paused or pending session (sbrp.md §4). The relay stops
 * reading such a client at the first held frame (`ws.pause()`), so only that frame and what ws
 * had already parsed from the same TCP read land here: at most about 2 × 64 KiB. Still bounded
 * (style.md 7); `push` refuses past the byte limit and the caller ends the session rather than
 * drop a frame silently (sbrp.md §3).
 */
export class HeldFrames {
  private readonly maxBytes: number;
  private readonly frames: Buffer[] = [];
  private bytes = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** Keeps a private copy of `frame`; false (nothing kept) when it would pass the limit. */
  push(frame: Uint8Array): boolean {
    if (this.bytes + frame.length > this.maxBytes) return false;
    this.frames.push(Buffer.from(frame));
    this.bytes += frame.length;
    return true;
  }

  peek(): Buffer | undefined {
    return this.frames[0];
  }

  shift(): Buffer | undefined {
    const frame = this.frames.shift();
    if (frame) this.bytes -= frame.length;
    return frame;
  }

  clear(): void {
    this.frames.length = 0;
    this.bytes = 0;
  }

  get size(): number {
    return this.frames.length;
  }

  get byteLength(): number {
    return this.bytes;
  }
}
