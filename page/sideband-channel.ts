import { LANE_CHANNEL_WINDOW } from '../sw/messages.js';
import { AckBatcher } from './ack-batcher.js';
import { encodeChannelData } from './lane-codec.js';
import { SidebandError } from './sideband-error.js';

/** How a channel ended: no `code` for a clean close, else why (`worker_restarted`, the daemon's code, …). */
export interface ChannelCloseInfo {
  code?: string;
  message?: string;
}

/** One channel message: text as a string, binary as an ArrayBuffer (like a WebSocket with binaryType 'arraybuffer'). */
export type ChannelMessageData = string | ArrayBuffer;

export interface SidebandChannelEventMap {
  message: MessageEvent<ChannelMessageData>;
  close: CustomEvent<ChannelCloseInfo>;
}

/** What a channel needs of its lane (page/lane.ts), one function per lane message. */
export interface ChannelLink {
  send(data: string | ArrayBuffer, transfer: Transferable[]): void;
  ack(count: number): void;
  close(): void;
  /** The channel expects no more lane messages: the lane may forget its id. */
  release(): void;
}

/** What the lane feeds into a channel. */
export interface ChannelSink {
  message(data: ChannelMessageData): void;
  sent(): void;
  closed(info: ChannelCloseInfo): void;
}

export interface ChannelLimits {
  ackBatch: number;
  maxPendingSends: number;
  /** Messages the worker may deliver unacknowledged (LANE_CHANNEL_WINDOW). */
  window: number;
}

interface PendingSend {
  resolve: () => void;
  reject: (error: unknown) => void;
}

type Waiter = { resolve: (result: IteratorResult<ChannelMessageData>) => void; reject: (error: unknown) => void };

/**
 * A long-lived bidirectional message stream to the daemon (terminal I/O), used like a
 * WebSocket, over the page's MessagePort fast lane. Read it with listeners or with
 * `for await`, not both (like a locked stream: each would see half the messages).
 *
 * Flow control: a message counts as delivered once a listener ran or the iterator handed it
 * out; only then is it acknowledged, so the worker never has more than LANE_CHANNEL_WINDOW
 * messages waiting in the page, and a slow consumer slows the daemon instead of filling memory.
 * Messages that arrive before the first listener is added wait (within that window) and are
 * dispatched to it.
 *
 * @example
 *   const channel = await sideband.channel('/term');
 *   channel.onmessage = (event) => terminal.write(event.data);
 *   channel.addEventListener('close', (event) => console.log('closed', event.detail.code));
 *   await channel.send('ls\n');
 *   // or: for await (const data of channel) terminal.write(data);
 */
export class SidebandChannel extends EventTarget implements AsyncIterable<ChannelMessageData> {
  /** Resolves once, when the channel ends (`close()` here resolves it with no code). */
  readonly closed: Promise<ChannelCloseInfo>;
  private readonly inbox: ChannelMessageData[] = [];
  private readonly pendingSends: PendingSend[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly acks: AckBatcher;
  private consumer?: 'listener' | 'iterator';
  /** Set once the channel ended; `local` when our `close()` ended it (then nothing more is delivered). */
  private ended?: { info: ChannelCloseInfo; local: boolean };
  private resolveClosed!: (info: ChannelCloseInfo) => void;
  private handler: ((event: MessageEvent<ChannelMessageData>) => unknown) | null = null;

  private constructor(
    /** The daemon path the channel was opened on. */
    readonly path: string,
    private readonly link: ChannelLink,
    private readonly limits: ChannelLimits,
  ) {
    super();
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    // Acks after the end would only reach an id the worker has already forgotten.
    this.acks = new AckBatcher(limits.ackBatch, (count) => {
      if (!this.ended) link.ack(count);
    });
  }

  /**
   * Used by the lane (page/lane.ts); apps get channels from `sideband.channel()`.
   * @internal
   */
  static attach(path: string, link: ChannelLink, limits: Partial<ChannelLimits> = {}): { channel: SidebandChannel; sink: ChannelSink } {
    const channel = new SidebandChannel(path, link, { ackBatch: 16, maxPendingSends: 1024, window: LANE_CHANNEL_WINDOW, ...limits });
    const sink: ChannelSink = {
      message: (data) => channel.receive(data),
      sent: () => channel.confirmSend(),
      closed: (info) => channel.end(info, false),
    };
    return { channel, sink };
  }

  /** Resolves when the worker has passed the message to the daemon's channel. */
  send(data: string | ArrayBuffer | ArrayBufferView): Promise<void> {
    const promise = this.enqueue(data);
    // Fire-and-forget callers must not get unhandled rejections; a lost message still shows:
    // the channel closes with the reason.
    promise.catch(() => {});
    return promise;
  }

  /** Closes our end; no more messages are delivered. Sends already made still complete. Idempotent. */
  close(): void {
    if (this.ended) return;
    this.link.close();
    this.end({}, true);
  }

  /** `for await` reads messages in order; `break` closes the channel. Ends after a clean close, throws SidebandError(code) otherwise. */
  [Symbol.asyncIterator](): AsyncIterator<ChannelMessageData> {
    this.claim('iterator');
    return {
      next: () => this.next(),
      return: async () => {
        this.close();
        return { done: true, value: undefined };
      },
    };
  }

  /** Like `WebSocket.onmessage`: one handler, replaced by assignment. */
  get onmessage(): ((event: MessageEvent<ChannelMessageData>) => unknown) | null {
    return this.handler;
  }

  set onmessage(handler: ((event: MessageEvent<ChannelMessageData>) => unknown) | null) {
    if (handler) this.addEventListener('message', handler as EventListener); // throws while iterated: then nothing changes
    if (this.handler) super.removeEventListener('message', this.handler as EventListener);
    this.handler = handler;
  }

  override addEventListener<K extends keyof SidebandChannelEventMap>(
    type: K,
    listener: (this: SidebandChannel, event: SidebandChannelEventMap[K]) => unknown,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  override addEventListener(type: string, listener: EventListenerOrEventListenerObject | null | ((event: never) => unknown), options?: boolean | AddEventListenerOptions): void {
    if (type === 'message' && listener) this.claim('listener');
    super.addEventListener(type, listener as EventListenerOrEventListenerObject | null, options);
  }

  private claim(mode: 'listener' | 'iterator'): void {
    if (this.consumer === mode && mode === 'listener') return;
    if (this.consumer) throw new TypeError(`this channel is already read through ${this.consumer === 'iterator' ? 'async iteration' : 'message listeners'}`);
    this.consumer = mode;
    // After the caller's current task, so every listener it adds now sees the waiting messages.
    if (mode === 'listener') queueMicrotask(() => this.pump());
  }

  private enqueue(data: string | ArrayBuffer | ArrayBufferView): Promise<void> {
    if (this.ended) return Promise.reject(new SidebandError('channel_closed', `send() on a closed channel (${this.ended.info.code ?? 'closed'})`));
    if (this.pendingSends.length >= this.limits.maxPendingSends) {
      const error = new SidebandError('flow_control', `more than ${this.limits.maxPendingSends} sends awaiting the worker: await send() to keep pace`);
      this.link.close();
      this.end({ code: error.code, message: error.message }, false);
      return Promise.reject(error);
    }
    let encoded: ReturnType<typeof encodeChannelData>;
    try {
      encoded = encodeChannelData(data);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<void>((resolve, reject) => {
      this.pendingSends.push({ resolve, reject });
      this.link.send(encoded.data, encoded.transfer);
    });
  }

  private confirmSend(): void {
    this.pendingSends.shift()?.resolve();
    if (this.ended && this.pendingSends.length === 0) this.link.release();
  }

  private receive(data: ChannelMessageData): void {
    if (this.ended) return; // closed here: the worker's copies in flight are dropped
    this.inbox.push(data);
    if (this.inbox.length > this.limits.window) {
      // The worker broke its window: refuse to buffer without bound (style.md §7).
      this.link.close();
      this.end({ code: 'flow_control', message: `the worker sent more than ${this.limits.window} unacknowledged messages` }, false);
      return;
    }
    this.pump();
  }

  private pump(): void {
    if (this.consumer === 'listener') {
      while (this.inbox.length > 0 && !this.ended?.local) {
        const data = this.inbox.shift() as ChannelMessageData;
        this.acks.consumed();
        this.dispatchEvent(new MessageEvent('message', { data }));
      }
    } else if (this.consumer === 'iterator') {
      while (this.waiters.length > 0 && (this.inbox.length > 0 || this.ended)) this.settleWaiter(this.waiters.shift() as Waiter);
    }
  }

  private next(): Promise<IteratorResult<ChannelMessageData>> {
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      if (this.waiters.length === 0 && (this.inbox.length > 0 || this.ended)) this.settleWaiter(waiter);
      else this.waiters.push(waiter);
    });
  }

  private settleWaiter(waiter: Waiter): void {
    if (this.inbox.length > 0 && !this.ended?.local) {
      this.acks.consumed();
      waiter.resolve({ done: false, value: this.inbox.shift() as ChannelMessageData });
      return;
    }
    const info = this.ended?.info ?? {};
    // A failure must not look like the end of the data (design.md: nothing silently truncated).
    if (info.code && !this.ended?.local) waiter.reject(new SidebandError(info.code, info.message ?? `the channel closed: ${info.code}`));
    else waiter.resolve({ done: true, value: undefined });
  }

  private end(info: ChannelCloseInfo, local: boolean): void {
    if (this.ended) {
      // Our close() came first; the worker's confirmation settles what we still owed.
      if (!local) this.failSends(info);
      return;
    }
    this.ended = { info, local };
    if (local) this.inbox.length = 0;
    // After our own close, sends already posted are still on their way (the port is ordered):
    // they settle on 'channel-sent', or fail when the worker's 'channel-closed' arrives.
    if (!local) this.failSends(info);
    if (this.pendingSends.length === 0) this.link.release();
    this.pump();
    this.resolveClosed(info);
    this.dispatchEvent(new CustomEvent<ChannelCloseInfo>('close', { detail: info }));
  }

  private failSends(info: ChannelCloseInfo): void {
    const error = new SidebandError(info.code ?? 'channel_closed', info.message ?? 'the channel closed before the message was sent');
    for (const pending of this.pendingSends.splice(0)) pending.reject(error);
    this.link.release();
  }
}
