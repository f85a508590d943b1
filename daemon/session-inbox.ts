/**
 * Per-session queue between the relay socket and an async message handler. The socket can
 * deliver faster than a handler finishes; this bounds what one session may hold (style.md §7).
 * Messages are delivered one at a time, in order. Over a limit, `push` returns false and the
 * caller closes the session (Signal close, policy).
 */
export interface InboxLimits {
  /** Messages waiting or being handled (default 256). */
  maxMessages: number;
  /** Bytes waiting or being handled (default 4 MiB). */
  maxBytes: number;
}

export const INBOX_DEFAULTS: Readonly<InboxLimits> = Object.freeze({ maxMessages: 256, maxBytes: 4 * 1024 * 1024 });

export type InboxHandler = (data: Uint8Array) => void | Promise<void>;

export class SessionInbox {
  private queue: Uint8Array[] = [];
  private bytes = 0;
  private running = false;
  private closed = false;

  constructor(
    private readonly limits: InboxLimits,
    private readonly handler: () => InboxHandler | undefined,
    private readonly onHandlerError: (error: unknown) => void,
  ) {}

  get size(): { messages: number; bytes: number } {
    return { messages: this.queue.length, bytes: this.bytes };
  }

  /** Queues one message; false when that would pass a limit (nothing is queued then). */
  push(data: Uint8Array): boolean {
    if (this.closed) return true;
    if (this.queue.length + 1 > this.limits.maxMessages || this.bytes + data.length > this.limits.maxBytes) return false;
    this.queue.push(data);
    this.bytes += data.length;
    if (!this.running) void this.drain();
    return true;
  }

  /** Drops what is queued; a handler call in progress finishes, nothing more is delivered. */
  close(): void {
    this.closed = true;
    this.queue = [];
    this.bytes = 0;
  }

  /** Retries delivery after a handler was installed. */
  kick(): void {
    if (!this.running && !this.closed && this.queue.length > 0) void this.drain();
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (!this.closed && this.queue.length > 0) {
        const handler = this.handler();
        if (!handler) return; // kept until a handler is installed (still bounded)
        const data = this.queue[0]!;
        try {
          await handler(data);
        } catch (error) {
          // A handler's throw never kills the session (style.md §5).
          this.onHandlerError(error);
        }
        if (this.closed) return;
        this.queue.shift();
        this.bytes -= data.length;
      }
    } finally {
      this.running = false;
    }
  }
}
