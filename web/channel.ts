import type { Mux } from '../protocol/stream/mux.js';
import type { MuxStream } from '../protocol/stream/mux-stream.js';
import type { StreamCodeName } from '../protocol/stream/stream-codes.js';
import { StreamError } from '../protocol/stream/stream-error.js';
import { headerPairs, toHeaders } from './hop-by-hop.js';

/** What `new Headers()` accepts (the DOM's HeadersInit, which Node's lib does not name). */
export type HeaderInit = ConstructorParameters<typeof Headers>[0];

/** A channel message: text arrives as a string, binary as bytes (like a WebSocket). */
export type ChannelData = string | Uint8Array;

/**
 * A channel could not be used. `channel_refused`: the peer answered the OPEN with a status
 * other than 200 (`status` says which; 404 when nothing serves the path). `channel_closed`:
 * `send` after `close()` or after the channel ended.
 */
export class ChannelError extends Error {
  override readonly name = 'ChannelError';
  constructor(
    readonly code: 'channel_refused' | 'channel_closed',
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface ChannelLimits {
  /** Messages `send` may queue ahead of the multiplexer before the channel fails (default 1024). */
  maxQueuedMessages: number;
  /** Bytes `send` may queue ahead of the multiplexer (default 4 MiB). */
  maxQueuedBytes: number;
}

export const CHANNEL_DEFAULTS: Readonly<ChannelLimits> = Object.freeze({ maxQueuedMessages: 1024, maxQueuedBytes: 4 * 1024 * 1024 });

interface Pending {
  data: ChannelData;
  size: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * A long-lived bidirectional message stream (docs/protocol.md §7), used like a WebSocket:
 *
 *   channel.send('ls -la\n');
 *   for await (const message of channel) console.log(message);   // or channel.on('message', fn)
 *   channel.close();
 *
 * `send` may be called without awaiting: messages go out in order, and the returned promise
 * resolves once the message is with the multiplexer. Those queued ahead of it are bounded;
 * past the bound the channel fails with `flow_control` rather than dropping a message
 * silently, so producers that can outrun the peer should await `send`. Reading happens in
 * one of two ways, chosen by the first use: async iteration, or `on('message')`.
 */
export class Channel implements AsyncIterable<ChannelData> {
  /** Path and query the channel was opened with. */
  readonly path: string;
  /** Daemon side: the opener's headers. Client side: the accepting HEAD's headers. */
  readonly headers: Headers;
  /**
   * Resolves when the channel is over: `undefined` once the peer's end was read (or we left a
   * `for await` early), else the error that ended it.
   */
  readonly closed: Promise<StreamError | undefined>;
  private readonly limits: ChannelLimits;
  private readonly outbox: Pending[] = [];
  private outboxBytes = 0;
  private flushing = false;
  private ending?: { stopPeer: boolean };
  /** While pending, ends the channel's own iteration triggers wait (daemon: until the handler returns). */
  private endGate?: Promise<void>;
  private consumer?: 'iterator' | 'listener';
  private readonly messageListeners = new Set<(data: ChannelData) => void>();
  private readonly closeListeners = new Set<(error: StreamError | undefined) => void>();
  private settled = false;
  private settle!: (error: StreamError | undefined) => void;
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });

  constructor(
    private readonly stream: MuxStream,
    headers: Headers,
    limits: Partial<ChannelLimits> = {},
  ) {
    this.path = stream.head.path;
    this.headers = headers;
    this.limits = { ...CHANNEL_DEFAULTS, ...limits };
    let resolve!: (error: StreamError | undefined) => void;
    this.closed = new Promise((r) => (resolve = r));
    this.settle = (error) => {
      if (this.settled) return;
      this.settled = true;
      resolve(error);
      for (const listener of [...this.closeListeners]) listener(error);
      this.closeListeners.clear();
      this.messageListeners.clear();
    };
    stream.onAbort((error) => {
      this.failOutbox(error);
      this.settle(error);
    });
  }

  /** Queues one message; text frames for strings, binary for bytes. */
  send(data: ChannelData): Promise<void> {
    const promise = this.enqueue(data);
    // Fire-and-forget callers must not crash the process on a rejection; a lost message still
    // shows, because the channel itself fails (`closed`, 'close', the reader's error).
    promise.catch(() => {});
    return promise;
  }

  /** Ends our side once queued messages are out; the peer's iteration ends. Idempotent. */
  close(): void {
    this.end(false);
  }

  /** Aborts both directions at once (RESET); queued messages are dropped. Idempotent. */
  abort(code: StreamCodeName = 'cancel', reason = 'channel aborted'): void {
    this.stream.reset(code, reason);
  }

  /** `message`: each incoming message. `close`: once, with the error or `undefined` (clean). Returns a remover. */
  on(type: 'message', listener: (data: ChannelData) => void): () => void;
  on(type: 'close', listener: (error: StreamError | undefined) => void): () => void;
  on(type: 'message' | 'close', listener: ((data: ChannelData) => void) | ((error: StreamError | undefined) => void)): () => void {
    if (type === 'close') {
      const fn = listener as (error: StreamError | undefined) => void;
      if (this.settled) {
        void this.closed.then(fn);
        return () => {};
      }
      this.closeListeners.add(fn);
      return () => this.closeListeners.delete(fn);
    }
    this.claim('listener');
    const fn = listener as (data: ChannelData) => void;
    this.messageListeners.add(fn);
    return () => this.messageListeners.delete(fn);
  }

  [Symbol.asyncIterator](): AsyncIterator<ChannelData> {
    this.claim('iterator');
    return {
      next: async () => {
        const message = await this.receive();
        return message === null ? { done: true, value: undefined } : { done: false, value: message };
      },
      // Leaving a `for await` early means "I am done": end our side and stop the peer sending
      // (RESET after our END, so what we sent stays intact on its side).
      return: async () => {
        this.end(true, true);
        this.settle(undefined); // closed as far as we are concerned: we read no more
        return { done: true, value: undefined };
      },
    };
  }

  private claim(mode: 'iterator' | 'listener'): void {
    // Like a locked ReadableStream: two readers would each see half the messages.
    if (this.consumer && this.consumer !== mode) throw new TypeError(`channel is already read through ${this.consumer === 'iterator' ? 'async iteration' : "on('message')"}`);
    if (this.consumer) {
      if (mode === 'iterator') throw new TypeError('channel is already being iterated');
      return;
    }
    this.consumer = mode;
    if (mode === 'listener') void this.dispatchLoop();
  }

  private async dispatchLoop(): Promise<void> {
    try {
      for (;;) {
        const message = await this.receive();
        if (message === null) return;
        for (const listener of [...this.messageListeners]) {
          try {
            listener(message);
          } catch (error) {
            queueMicrotask(() => {
              throw error; // like an EventTarget listener: reported, never breaks the channel
            });
          }
        }
      }
    } catch {
      // the stream failed; onAbort already settled `closed` with the error
    }
  }

  /** The next message, or null once the peer ended (then our side ends too, like a WebSocket close). */
  private async receive(): Promise<ChannelData | null> {
    const message = await this.stream.readMessage();
    if (!message) {
      this.end(false, true);
      this.settle(undefined);
      return null;
    }
    return message.text ? this.decoder.decode(message.data) : message.data;
  }

  private enqueue(data: ChannelData): Promise<void> {
    if (this.stream.error) return Promise.reject(this.stream.error);
    if (this.ending || this.stream.closed) return Promise.reject(new ChannelError('channel_closed', 'send after the channel was closed'));
    const size = typeof data === 'string' ? data.length * 3 : data.length; // UTF-8 upper bound, no encoding twice
    if (this.outbox.length >= this.limits.maxQueuedMessages || this.outboxBytes + size > this.limits.maxQueuedBytes) {
      const error = new StreamError('flow_control', `channel send queue over ${this.limits.maxQueuedMessages} messages or ${this.limits.maxQueuedBytes} bytes; await send()`);
      this.stream.reset('flow_control', 'sender queue overflow');
      return Promise.reject(error);
    }
    return new Promise<void>((resolve, reject) => {
      this.outbox.push({ data, size, resolve, reject });
      this.outboxBytes += size;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.outbox.length > 0) {
        const item = this.outbox[0]!;
        try {
          await this.stream.sendMessage(item.data);
        } catch (error) {
          // A message over the peer's limit resets the stream (message_too_large), so it lands here too.
          if (this.stream.closed) return this.failOutbox(error);
          this.outbox.shift();
          this.outboxBytes -= item.size;
          item.reject(error);
          continue;
        }
        this.outbox.shift();
        this.outboxBytes -= item.size;
        item.resolve();
      }
      if (this.ending && !this.stream.closed) this.stream.end({ stopPeer: this.ending.stopPeer });
    } finally {
      this.flushing = false;
    }
  }

  /**
   * @internal Daemon side: ends that iteration causes (the peer ended, the handler left its
   * `for await`) wait until `until` settles. Leaving a loop by a throw also calls the
   * iterator's `return`, and the handler's rejection must reach the peer as RESET `internal`,
   * not as a clean END sent first (docs/protocol.md §8).
   */
  holdEndUntil(until: Promise<void>): void {
    this.endGate = until;
  }

  private end(stopPeer: boolean, automatic = false): void {
    if (this.ending) return;
    if (automatic && this.endGate) {
      void this.endGate.then(() => this.end(stopPeer));
      return;
    }
    this.ending = { stopPeer };
    void this.flush();
  }

  private failOutbox(error: unknown): void {
    for (const item of this.outbox.splice(0)) item.reject(error);
    this.outboxBytes = 0;
  }
}

/** Daemon side: accepts a channel the client opened (HEAD 200). */
export function acceptChannel(stream: MuxStream, options: { headers?: HeaderInit; limits?: Partial<ChannelLimits> } = {}): Channel {
  stream.respond({ status: 200, headers: headerPairs(new Headers(options.headers)) });
  return new Channel(stream, toHeaders(stream.head.headers), options.limits);
}

/** Daemon side: refuses a channel with `status` (404 when nothing serves the path), then END. */
export function refuseChannel(stream: MuxStream, status = 404): void {
  if (stream.closed) return;
  stream.respond({ status, headers: [] });
  stream.end({ stopPeer: true });
}

/**
 * Client side: opens a channel to `path` and resolves once the daemon accepted it. Rejects
 * with ChannelError `channel_refused` (and the status) or the StreamError that ended it.
 *
 *   const term = await openChannel(mux, '/term');
 */
export async function openChannel(mux: Mux, path: string, init: { headers?: HeaderInit; signal?: AbortSignal; limits?: Partial<ChannelLimits> } = {}): Promise<Channel> {
  init.signal?.throwIfAborted();
  const stream = mux.open({ kind: 'channel', path, headers: headerPairs(new Headers(init.headers)) });
  const onAbort = () => stream.reset('cancel', 'channel open aborted');
  init.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const head = await stream.response;
    if (head.status !== 200) {
      stream.reset('cancel', 'refused');
      throw new ChannelError('channel_refused', `the daemon refused channel ${path} with status ${head.status}`, head.status);
    }
    return new Channel(stream, toHeaders(head.headers), init.limits);
  } catch (error) {
    if (init.signal?.aborted) throw init.signal.reason;
    throw error;
  } finally {
    init.signal?.removeEventListener('abort', onAbort);
  }
}
