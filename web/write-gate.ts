/**
 * Transport backpressure for a sender that reports `bufferedAmount` but has no drain event:
 * both `ws` and the browser WebSocket are like that. A Mux asks `isWritable()` before each
 * body piece (style.md §7); when the answer is no, the gate waits for the buffer to fall to
 * the low-water mark and then calls `onDrain` (the owner pumps its muxes). It learns of the
 * fall from `onFlush` where the transport can tell (ws send callbacks, in Node) and otherwise
 * by polling (a browser WebSocket). Either runs only while blocked by the buffer; a
 * transport that is down is woken with `kick()`.
 *
 *   const gate = new WriteGate({ bufferedAmount: () => ws.bufferedAmount, onDrain: () => mux.pump() });
 *   const mux = new Mux({ role: 'client', send, isWritable: () => gate.isWritable() });
 */
export interface WriteGateOptions {
  /** Bytes the transport holds unsent. */
  bufferedAmount: () => number;
  /** Whether the transport can take bytes at all (connected, session not paused). Default: always. */
  canWrite?: () => boolean;
  /** Called once writing may go on; the owner calls `pump()` on its muxes. */
  onDrain: () => void;
  /** Stop writing at this many buffered bytes (default 256 KiB: enough to keep a socket busy, little for a small response to wait behind). */
  highWaterMark?: number;
  /** Resume once the buffer is at or below this (default a quarter of the high-water mark). */
  lowWaterMark?: number;
  /**
   * Subscribes to "some bytes were written out"; returns the remover. Without it the gate
   * polls: a timer's granularity (1–2 ms, more under load) would cap throughput at about
   * (high − low) per tick.
   */
  onFlush?: (listener: () => void) => () => void;
  /** Poll interval while blocked by the buffer (default 2 ms, or 50 ms as a safety net when `onFlush` is given). */
  pollMs?: number;
}

export const WRITE_GATE_DEFAULTS = Object.freeze({ highWaterMark: 256 * 1024, pollMs: 2, pollWithFlushMs: 50 });

export class WriteGate {
  private readonly high: number;
  private readonly low: number;
  private readonly pollMs: number;
  private timer?: ReturnType<typeof setTimeout>;
  private unsubscribe?: () => void;
  private closed = false;

  constructor(private readonly options: WriteGateOptions) {
    this.high = options.highWaterMark ?? WRITE_GATE_DEFAULTS.highWaterMark;
    this.low = Math.min(this.high, options.lowWaterMark ?? Math.floor(this.high / 4));
    this.pollMs = options.pollMs ?? (options.onFlush ? WRITE_GATE_DEFAULTS.pollWithFlushMs : WRITE_GATE_DEFAULTS.pollMs);
  }

  /** True when a piece may be written now; when false, `onDrain` follows once it may. */
  isWritable(): boolean {
    if (this.closed) return false;
    if (this.options.canWrite && !this.options.canWrite()) return false; // woken by kick()
    if (this.options.bufferedAmount() < this.high) return true;
    this.arm();
    return false;
  }

  /** The transport came back (reconnected, session resumed): try again now. */
  kick(): void {
    if (this.closed) return;
    this.disarm();
    this.options.onDrain();
  }

  /** Stops waiting for good. Idempotent. */
  close(): void {
    this.closed = true;
    this.disarm();
  }

  private arm(): void {
    if (this.closed) return;
    if (!this.unsubscribe && this.options.onFlush) this.unsubscribe = this.options.onFlush(() => this.check(false));
    this.timer ??= setTimeout(() => this.check(true), this.pollMs);
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  private check(fromTimer: boolean): void {
    if (fromTimer) this.timer = undefined;
    if (this.closed) return;
    if (this.options.canWrite && !this.options.canWrite()) return this.disarm(); // kick() resumes
    if (this.options.bufferedAmount() <= this.low) {
      this.disarm();
      this.options.onDrain();
    } else if (fromTimer) {
      this.arm();
    }
  }
}
