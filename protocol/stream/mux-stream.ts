import { fromUtf8 } from '../bytes.js';
import { InnerKind, MESSAGE_COST, MessageFlag, type StreamCodeName } from './stream-codes.js';
import { StreamError } from './stream-error.js';
import type { OpenHead, ResponseHead } from './heads.js';

/** One outbound item, in order: HEAD, then DATA/MESSAGE pieces, then END. */
export interface OutItem {
  kind: number;
  bytes: Uint8Array;
  flags: number;
}

export interface ChannelMessage {
  data: Uint8Array;
  text: boolean;
}

/** What a stream needs from its multiplexer; keeps the two classes from knowing each other's insides. */
export interface StreamHost {
  schedule(stream: MuxStream): void;
  consumed(stream: MuxStream, bytes: number): void;
  resetStream(stream: MuxStream, code: StreamCodeName, reason: string): void;
  validateResponseHead(head: ResponseHead): Uint8Array;
  maxChunk: number;
  writeHighWater: number;
  peerMaxMessageBytes(): number;
}

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (error: StreamError) => void;
}

/**
 * One stream of the inner protocol: an HTTP exchange or a channel. Reading pulls from a
 * buffer that the peer can fill only up to our window; each read returns credit. Writing
 * queues pieces that the multiplexer's fair scheduler sends as credit allows; `write`
 * resolves once the queue is under the high-water mark, so producers feel backpressure.
 */
export class MuxStream {
  readonly id: number;
  readonly head: OpenHead;
  readonly local: boolean;

  // inbound
  private readonly chunks: Uint8Array[] = [];
  private readonly messages: ChannelMessage[] = [];
  /** The message being reassembled: one buffer grown by doubling, so tiny fragments cost no per-piece objects. */
  private fragmentBuffer = new Uint8Array(0);
  private fragmentBytes = 0;
  /** Text bit of the message being reassembled (from its first fragment), or undefined between messages. */
  private fragmentText?: boolean;
  private reader?: Waiter<Uint8Array | ChannelMessage | null>;
  remoteEnded = false;
  /** Bytes the peer may still send before we grant more (our receive window for it). */
  recvAvailable: number;
  unacked = 0;
  /** Credit granted beyond the announced window while this stream was the only busy one (receive-credit.ts). */
  extraCredit = 0;
  /** Bytes read since another stream was last busy: the window grows only after a whole window of them. */
  aloneBytes = 0;
  bufferedIn = 0;

  // outbound
  readonly outQueue: OutItem[] = [];
  outBytes = 0;
  sendCredit = 0;
  localEnded = false;
  endSent = false;
  /** Reset the peer's side right after our END if it has not ended (a complete response to an unread upload). */
  stopPeerAfterEnd = false;
  responded = false;
  /** @internal Status given to `respond`, sent with the HEAD. */
  responseStatus?: number;
  /** Status of the HEAD we answered with, once that HEAD is on the wire (acceptor side). */
  sentStatus?: number;
  private writer?: Waiter<void>;

  // response (streams we opened)
  private responseWaiter?: Waiter<ResponseHead>;
  readonly response: Promise<ResponseHead>;
  responseHead?: ResponseHead;
  /** @internal The encoded OPEN head, sent when the stream activates. */
  encodedHead?: Uint8Array;

  error?: StreamError;
  finished = false;
  private readonly abortListeners: ((error: StreamError) => void)[] = [];

  constructor(
    private readonly host: StreamHost,
    id: number,
    head: OpenHead,
    local: boolean,
    recvWindow: number,
  ) {
    this.id = id;
    this.head = head;
    this.local = local;
    this.recvAvailable = recvWindow;
    this.response = new Promise<ResponseHead>((resolve, reject) => {
      this.responseWaiter = { resolve, reject };
    });
    this.response.catch(() => {}); // observed through `error` too; avoid unhandled rejections
  }

  get closed(): boolean {
    return this.finished || this.error !== undefined;
  }

  /** Called with the error when the stream fails for any reason (either side, or the session). */
  onAbort(listener: (error: StreamError) => void): void {
    if (this.error) listener(this.error);
    else this.abortListeners.push(listener);
  }

  // ---------------------------------------------------------------- reading

  /** Next body chunk; `null` once the peer ended its side. Rejects with StreamError on reset. */
  read(): Promise<Uint8Array | null> {
    return this.pull(() => {
      const chunk = this.chunks.shift();
      if (chunk) {
        this.bufferedIn -= chunk.length;
        this.host.consumed(this, chunk.length);
        return chunk;
      }
      return this.remoteEnded ? null : undefined;
    }) as Promise<Uint8Array | null>;
  }

  /** Next channel message; `null` once the peer closed its side. */
  readMessage(): Promise<ChannelMessage | null> {
    return this.pull(() => {
      const message = this.messages.shift();
      if (message) {
        const cost = message.data.length + MESSAGE_COST;
        this.bufferedIn -= cost;
        this.host.consumed(this, cost);
        return message;
      }
      return this.remoteEnded ? null : undefined;
    }) as Promise<ChannelMessage | null>;
  }

  private pull(take: () => Uint8Array | ChannelMessage | null | undefined): Promise<Uint8Array | ChannelMessage | null> {
    if (this.reader) return Promise.reject(new StreamError('protocol', 'read() called again before the previous read resolved'));
    const value = take();
    if (value !== undefined) return Promise.resolve(value);
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => {
      this.reader = {
        resolve: () => {
          const next = take();
          if (next === undefined) return; // woken without news: keep waiting
          this.reader = undefined;
          resolve(next);
        },
        reject,
      };
    });
  }

  private wakeReader(): void {
    this.reader?.resolve(null);
  }

  /** @internal DATA from the peer (already checked against the window). */
  pushChunk(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.bufferedIn += chunk.length;
    this.wakeReader();
  }

  /**
   * @internal MESSAGE fragment from the peer (already charged against the windows: payload,
   * plus MESSAGE_COST on the fin fragment); returns an error code when a limit is broken.
   */
  pushFragment(body: Uint8Array, maxMessageBytes: number, maxQueued: number): StreamCodeName | undefined {
    const flags = body[0] ?? 0;
    const fin = (flags & MessageFlag.fin) !== 0;
    const piece = body.subarray(1);
    // An empty non-final fragment would cost no credit and carry nothing (docs/protocol.md §7).
    if (!fin && piece.length === 0) return 'protocol';
    const text = (flags & MessageFlag.text) !== 0;
    // Every fragment of one message carries the same text bit (docs/protocol.md §7).
    if (this.fragmentText !== undefined && this.fragmentText !== text) return 'protocol';
    this.fragmentText = fin ? undefined : text;
    if (this.fragmentBytes + piece.length > maxMessageBytes) return 'message_too_large';
    if (this.fragmentBytes + piece.length > this.fragmentBuffer.length) {
      const grown = new Uint8Array(Math.min(maxMessageBytes, Math.max(1024, (this.fragmentBytes + piece.length) * 2)));
      grown.set(this.fragmentBuffer.subarray(0, this.fragmentBytes));
      this.fragmentBuffer = grown;
    }
    this.fragmentBuffer.set(piece, this.fragmentBytes);
    this.fragmentBytes += piece.length;
    this.bufferedIn += piece.length;
    if (!fin) return undefined;
    if (this.messages.length >= maxQueued) return 'flow_control';
    const data = this.fragmentBuffer.slice(0, this.fragmentBytes);
    this.fragmentBuffer = new Uint8Array(0);
    this.fragmentBytes = 0;
    if (text && !isUtf8(data)) return 'protocol'; // like WebSocket close 1007, never U+FFFD
    this.messages.push({ data, text });
    this.bufferedIn += MESSAGE_COST;
    this.wakeReader();
    return undefined;
  }

  /** @internal The peer sent END. */
  remoteEnd(): void {
    this.remoteEnded = true;
    this.wakeReader();
  }

  /** @internal The peer sent HEAD. */
  receiveResponse(head: ResponseHead): void {
    this.responseHead = head;
    this.responseWaiter?.resolve(head);
    this.responseWaiter = undefined;
  }

  // ---------------------------------------------------------------- writing

  /** Answers a stream the peer opened (HTTP status and headers; 200 accepts a channel). */
  respond(head: ResponseHead): void {
    this.assertWritable();
    if (this.local) throw new StreamError('protocol', 'only the side that accepted a stream responds');
    if (this.responded) throw new StreamError('protocol', 'response head already sent');
    let bytes: Uint8Array;
    try {
      bytes = this.host.validateResponseHead(head);
    } catch (error) {
      // A head the peer would refuse is never sent; the opener learns why (docs/protocol.md §3).
      if (error instanceof StreamError && error.code === 'head_too_large') this.reset('head_too_large', error.message);
      throw error;
    }
    this.responded = true;
    this.responseStatus = head.status;
    this.enqueue({ kind: InnerKind.HEAD, bytes, flags: 0 }, 0);
  }

  /** Queues body bytes; resolves when the queue is back under the high-water mark. */
  write(chunk: Uint8Array): Promise<void> {
    try {
      this.assertWritable();
      if (this.writer) throw new StreamError('protocol', 'write() called again before the previous write resolved');
    } catch (error) {
      return Promise.reject(error);
    }
    // Whole: the scheduler cuts frames of up to maxChunk from the queue, across chunks too.
    if (chunk.length > 0) this.enqueue({ kind: InnerKind.DATA, bytes: chunk, flags: 0 }, chunk.length, false);
    this.host.schedule(this);
    return this.writeReady();
  }

  /** Sends one channel message (fragmented to fit frames, reassembled by the peer). */
  sendMessage(data: Uint8Array | string): Promise<void> {
    try {
      this.assertWritable();
      if (this.writer) throw new StreamError('protocol', 'sendMessage() called again before the previous one resolved');
    } catch (error) {
      return Promise.reject(error);
    }
    const text = typeof data === 'string';
    const bytes = text ? new TextEncoder().encode(data) : data;
    if (bytes.length > this.host.peerMaxMessageBytes()) {
      // Never sent, and loud: the channel fails on both sides with the code (docs/protocol.md §3).
      const error = new StreamError('message_too_large', `message of ${bytes.length} bytes exceeds the peer's ${this.host.peerMaxMessageBytes()}`);
      this.reset('message_too_large', error.message);
      return Promise.reject(error);
    }
    const step = this.host.maxChunk - 1;
    let offset = 0;
    do {
      const piece = bytes.subarray(offset, Math.min(bytes.length, offset + step));
      offset += piece.length;
      const flags = (text ? MessageFlag.text : 0) | (offset >= bytes.length ? MessageFlag.fin : 0);
      this.enqueue({ kind: InnerKind.MESSAGE, bytes: piece, flags }, piece.length, false);
    } while (offset < bytes.length);
    this.host.schedule(this);
    return this.writeReady();
  }

  /**
   * Ends our side after everything queued. Idempotent. With `stopPeer`, a peer still sending
   * (an upload the handler did not read) is told to stop with RESET cancel once our END is out;
   * what we sent stays intact on its side (docs/protocol.md §6).
   */
  end(options: { stopPeer?: boolean } = {}): void {
    if (this.localEnded || this.closed) return;
    this.localEnded = true;
    this.stopPeerAfterEnd = options.stopPeer ?? false;
    this.enqueue({ kind: InnerKind.END, bytes: new Uint8Array(0), flags: 0 }, 0);
  }

  /** Aborts the stream both ways with a RESET. Idempotent. */
  reset(code: StreamCodeName = 'cancel', reason = ''): void {
    if (this.closed) return;
    this.host.resetStream(this, code, reason);
  }

  private assertWritable(): void {
    if (this.error) throw this.error;
    if (this.localEnded || this.finished) throw new StreamError('protocol', 'stream already ended');
  }

  private enqueue(item: OutItem, bytes: number, schedule = true): void {
    this.outQueue.push(item);
    this.outBytes += bytes;
    if (schedule) this.host.schedule(this);
  }

  /** @internal A `write`/`sendMessage` waits for the queue to fall under the high-water mark. */
  get writerWaiting(): boolean {
    return this.writer !== undefined;
  }

  private writeReady(): Promise<void> {
    if (this.outBytes <= this.host.writeHighWater) return Promise.resolve();
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => {
      this.writer = { resolve, reject };
    });
  }

  /** @internal After the scheduler sent some of our queue. */
  drained(): void {
    if (this.writer && this.outBytes <= this.host.writeHighWater) {
      const writer = this.writer;
      this.writer = undefined;
      writer.resolve();
    }
  }

  /** @internal Both sides done: release waiters without error. */
  finish(): void {
    this.finished = true;
    this.wakeReader();
  }

  /** @internal The stream failed: wake everyone with the error and drop queued output. */
  fail(error: StreamError): void {
    if (this.error || this.finished) return;
    this.error = error;
    this.outQueue.length = 0;
    this.outBytes = 0;
    this.fragmentBuffer = new Uint8Array(0);
    this.fragmentBytes = 0;
    this.fragmentText = undefined;
    this.reader?.reject(error);
    this.reader = undefined;
    this.writer?.reject(error);
    this.writer = undefined;
    this.responseWaiter?.reject(error);
    this.responseWaiter = undefined;
    for (const listener of this.abortListeners.splice(0)) listener(error);
  }

  /**
   * @internal The peer reset the stream after it had ended its own side (for example a
   * handler that answered without reading the whole upload): stop our output and tell
   * listeners, but let the reader drain what already arrived intact.
   */
  stopSending(error: StreamError): void {
    if (this.error || this.finished) return;
    this.outQueue.length = 0;
    this.outBytes = 0;
    this.localEnded = true;
    this.writer?.reject(error);
    this.writer = undefined;
    for (const listener of this.abortListeners.splice(0)) listener(error);
    this.finish();
  }

  /** @internal Bytes buffered but never read, returned as session credit when the stream dies. */
  discardBuffered(): number {
    const bytes = this.bufferedIn; // includes a half-reassembled message's fragments
    this.chunks.length = 0;
    this.messages.length = 0;
    this.fragmentBuffer = new Uint8Array(0);
    this.fragmentBytes = 0;
    this.bufferedIn = 0;
    return bytes;
  }
}

function isUtf8(bytes: Uint8Array): boolean {
  try {
    fromUtf8(bytes);
    return true;
  } catch {
    return false;
  }
}
