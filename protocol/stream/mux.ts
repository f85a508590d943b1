import {
  InnerKind, INNER_HEADER_LENGTH, INNER_VERSIONS, MAX_EVENT_BYTES, MAX_INNER_BODY, MAX_OUTSTANDING_PINGS, MESSAGE_COST, MessageFlag, STREAM_DEFAULTS, StreamCode,
  type StreamCodeName, type StreamLimits,
} from './stream-codes.js';
import { StreamError } from './stream-error.js';
import {
  decodeCodeReason, decodeCombinedCredit, decodeGoaway, decodeInner, decodeUint32, encodeCodeReason, encodeCombinedCredit, encodeGoaway, encodeInner, encodeUint32, writeInnerHeader,
  type InnerFrame,
} from './inner-frame.js';
import {
  decodeEvent, decodeHello, decodeOpenFrame, decodeResponseFrame, encodeEvent, encodeHello, encodeOpen, encodeResponseHead, negotiateVersion, withInline,
  type HelloBody, type InlineBody, type OpenHead, type ResponseHead,
} from './heads.js';
import { MuxStream, type StreamHost } from './mux-stream.js';
import { queuedData, takeData, takeDataViews } from './out-queue.js';
import { growthStep, ReceiveSharing, type ReceiveCreditPolicy } from './receive-credit.js';

export type MuxRole = 'client' | 'daemon';

export interface MuxOptions {
  /** Client-opened streams are odd, daemon-opened even (docs/protocol.md §4). */
  role: MuxRole;
  /** Sends one inner frame (the plaintext of one SBRP Data frame). */
  send: (frame: Uint8Array) => void;
  /**
   * Sends one inner frame given as its parts in order: the header, then views of the queued
   * body bytes. When set, DATA frames use it, so a body piece is read by the cipher where the
   * writer left it instead of being copied into a frame first (an AEAD seals parts:
   * protocol/aead.ts `Plaintext`). The parts are handed over: the mux never touches them again.
   */
  sendParts?: (parts: readonly Uint8Array[]) => void;
  /** Transport backpressure: while false the scheduler holds data; call `pump()` when writable again. */
  isWritable?: () => boolean;
  /** A stream the peer opened. Throwing or not answering is the application's business. */
  onStream?: (stream: MuxStream) => void;
  onEvent?: (name: string, data: unknown) => void;
  /** The inner session ended (peer ERROR, local close, or transport loss). */
  onClose?: (error?: StreamError) => void;
  /** GOAWAY from the peer: no new streams; open ones finish. */
  onGoaway?: () => void;
  limits?: Partial<StreamLimits>;
  now?: () => number;
  /**
   * Runs the scheduler later instead of inside every `write`/`respond`/`end` (Node:
   * `process.nextTick`), so what a handler queues in one go leaves as few frames as the
   * version allows: a small response becomes one HEAD carrying its body and END (§3).
   * Default: send at once.
   */
  defer?: (run: () => void) => void;
  /** Inner protocol versions announced in HELLO (default INNER_VERSIONS); tests pin `[1]`. */
  versions?: readonly number[];
  /**
   * Grows a lone busy stream's receive window past the announced one and takes the extra back
   * when other streams are busy (receive-credit.ts). Default: windows stay as announced.
   */
  receiveCredit?: ReceiveCreditPolicy;
}

/** First inner version whose OPEN/HEAD may carry `end` and a body (docs/protocol.md §3). */
const INLINE_VERSION = 2;
/** First inner version whose stream CREDIT may carry a session increment too (docs/protocol.md §5). */
const COMBINED_CREDIT_VERSION = 2;

const MAX_QUEUED_EVENTS = 256;

/** Kinds that belong to the session, not a stream: their stream id must be 0 (docs/protocol.md §2). */
const SESSION_KINDS: ReadonlySet<number> = new Set([InnerKind.HELLO, InnerKind.EVENT, InnerKind.PING, InnerKind.PONG, InnerKind.GOAWAY]);

/**
 * The inner stream protocol over one SBRP session (design.md, docs/protocol.md): HELLO,
 * many concurrent streams opened by either side, credit-based flow control per stream and
 * per session, round-robin scheduling across streams, RESET both ways, EVENTs, PING/PONG
 * and GOAWAY. Pure: bytes in through `receive`, bytes out through `send`.
 */
export class Mux implements StreamHost {
  readonly limits: StreamLimits;
  private readonly streams = new Map<number, MuxStream>();
  private readonly outPending = new Set<MuxStream>();
  private readonly pendingOpens: MuxStream[] = [];
  private readonly events: Uint8Array[] = [];
  private droppedEvents = 0;
  private readonly pings = new Map<number, { resolve: (rtt: number) => void; reject: (e: StreamError) => void; sentAt: number }>();
  private pingCounter = 0;
  private nextLocalId: number;
  private highestRemoteId = 0;
  private localOpenCount = 0;
  private remoteOpenCount = 0;
  private peer?: HelloBody;
  private sessionSendCredit = 0;
  private sessionRecvAvailable: number;
  private sessionUnacked = 0;
  /** Session credit granted beyond the announced window, matching lone streams' extra (receive-credit.ts). */
  private sessionExtra = 0;
  /** Which streams count as busy and what shared streams are owed (receive-credit.ts); with `receiveCredit` only. */
  private readonly sharing?: ReceiveSharing;
  private pumping = false;
  private pumpQueued = false;
  /** A stream kept a short tail of its queue back this round (sendData); pump again later. */
  private tailHeld = false;
  private goawaySent = false;
  private goawayReceived = false;
  private closedWith?: { error?: StreamError };
  version?: number;

  constructor(private readonly options: MuxOptions) {
    const limits = { ...STREAM_DEFAULTS, ...options.limits };
    // A channel message is credited only once read whole, so it and its cost must fit one stream window.
    limits.maxMessageBytes = Math.max(1, Math.min(limits.maxMessageBytes, limits.streamWindow - MESSAGE_COST));
    limits.maxChunk = Math.max(1024, Math.min(limits.maxChunk, MAX_INNER_BODY));
    limits.maxEventBytes = Math.min(limits.maxEventBytes, MAX_EVENT_BYTES); // what every peer accepts
    this.limits = limits;
    this.nextLocalId = options.role === 'client' ? 1 : 2;
    this.sessionRecvAvailable = limits.sessionWindow;
    // Made here so a bad policy fails the constructor, not the first read.
    if (options.receiveCredit) this.sharing = new ReceiveSharing(options.receiveCredit);
  }

  get maxChunk(): number {
    return this.limits.maxChunk;
  }

  get writeHighWater(): number {
    return this.limits.writeHighWater;
  }

  get ready(): boolean {
    return this.peer !== undefined && !this.closedWith;
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  get streamCount(): number {
    return this.streams.size;
  }

  /** Sends HELLO; call once the SBRP session is open. */
  start(): void {
    const hello: HelloBody = {
      versions: [...(this.options.versions ?? INNER_VERSIONS)],
      streamWindow: this.limits.streamWindow,
      sessionWindow: this.limits.sessionWindow,
      maxStreams: this.limits.maxStreams,
      maxHeadBytes: this.limits.maxHeadBytes,
      maxMessageBytes: this.limits.maxMessageBytes,
      capabilities: ['http', 'channel', 'event'],
    };
    this.sendFrame(InnerKind.HELLO, 0, encodeHello(hello));
  }

  /**
   * Opens a stream to the peer. Its OPEN goes out once the peer's HELLO arrived and it has
   * room. With `end` our side is ended at once (a request without a body): in version 2 the
   * OPEN itself carries the end, so no END frame follows.
   */
  open(head: OpenHead, options: { end?: boolean } = {}): MuxStream {
    if (this.closedWith) throw this.closedWith.error ?? new StreamError('session_closed', 'session closed');
    if (this.goawayReceived || this.goawaySent) throw new StreamError('going_away', 'session is shutting down; no new streams');
    const encoded = encodeOpen(head);
    if (encoded.length > this.limits.maxHeadBytes || (this.peer && encoded.length > this.peer.maxHeadBytes)) {
      throw new StreamError('head_too_large', `request head of ${encoded.length} bytes is too large`);
    }
    if (this.pendingOpens.length >= this.limits.maxPendingOpens) {
      throw new StreamError('refused', `${this.pendingOpens.length} streams already wait to open`);
    }
    const id = this.nextLocalId;
    this.nextLocalId += 2;
    const stream = new MuxStream(this, id, head, true, this.limits.streamWindow);
    this.pendingOpens.push(stream);
    stream.encodedHead = encoded;
    if (options.end) stream.end();
    this.activatePending();
    return stream;
  }

  /** Publishes an event to the peer (daemon → clients). Bounded queue; overflow is reported, not silent. */
  publishEvent(name: string, data: unknown): void {
    if (this.closedWith) return;
    const body = encodeEvent({ name, data });
    if (body.length > this.limits.maxEventBytes) throw new StreamError('message_too_large', `event of ${body.length} bytes exceeds ${this.limits.maxEventBytes}`);
    if (this.events.length >= MAX_QUEUED_EVENTS) {
      this.events.shift();
      this.droppedEvents++;
    }
    this.events.push(encodeInner(InnerKind.EVENT, 0, body));
    this.pump();
  }

  /** Round-trip time to the peer's inner protocol, in the clock's units (ms by default). */
  ping(): Promise<number> {
    if (this.closedWith) return Promise.reject(this.closedWith.error ?? new StreamError('session_closed', 'session closed'));
    if (this.pings.size >= MAX_OUTSTANDING_PINGS) return Promise.reject(new StreamError('flow_control', 'too many outstanding pings'));
    const id = ++this.pingCounter >>> 0;
    const payload = new Uint8Array(8);
    new DataView(payload.buffer).setUint32(4, id, false);
    return new Promise((resolve, reject) => {
      this.pings.set(id, { resolve, reject, sentAt: this.now() });
      this.sendFrame(InnerKind.PING, 0, payload);
    });
  }

  /** Graceful shutdown: GOAWAY, refuse new streams, let open ones finish. */
  shutdown(): void {
    if (this.goawaySent || this.closedWith) return;
    this.goawaySent = true;
    this.sendFrame(InnerKind.GOAWAY, 0, encodeGoaway(this.highestRemoteId, StreamCode.going_away));
    for (const stream of this.pendingOpens.splice(0)) stream.fail(new StreamError('going_away', 'session shutting down'));
  }

  /** Ends the inner session: every open stream fails with `error` (default session_closed). Idempotent. */
  close(error?: StreamError, notifyPeer = false): void {
    if (this.closedWith) return;
    if (notifyPeer && error) this.sendFrame(InnerKind.ERROR, 0, encodeCodeReason(error.numericCode, error.message));
    this.closedWith = { error };
    const reason = error ?? new StreamError('session_closed', 'session closed');
    for (const stream of [...this.streams.values(), ...this.pendingOpens]) stream.fail(reason);
    this.streams.clear();
    this.pendingOpens.length = 0;
    this.outPending.clear();
    this.events.length = 0;
    for (const ping of this.pings.values()) ping.reject(reason);
    this.pings.clear();
    this.options.onClose?.(error);
  }

  /**
   * Handles one inner frame from the peer. Never throws; a protocol violation ends the session
   * with ERROR. The Mux keeps `bytes` (body chunks are views into it, not copies): pass a
   * buffer nobody writes to afterwards, as a freshly decrypted plaintext is.
   */
  receive(bytes: Uint8Array): void {
    if (this.closedWith) return;
    try {
      const frame = decodeInner(bytes);
      if (!this.peer && frame.kind !== InnerKind.HELLO && frame.kind !== InnerKind.ERROR) {
        throw new StreamError('protocol', `frame kind ${frame.kind} before HELLO`);
      }
      this.dispatch(frame);
    } catch (error) {
      const streamError = error instanceof StreamError ? error : new StreamError('internal', String(error));
      this.close(streamError, true);
    }
  }

  /** Sends whatever credit and the transport allow, one piece per stream per round (fairness). */
  pump(): void {
    if (this.pumping || this.closedWith) return;
    this.pumping = true;
    const touched = new Set<MuxStream>();
    try {
      while (this.writable()) {
        if (this.events.length) {
          this.options.send(this.events.shift()!);
          if (!this.events.length && this.droppedEvents) this.reportDroppedEvents();
          continue;
        }
        let progressed = false;
        for (const stream of [...this.outPending]) {
          if (!this.writable()) break;
          if (this.sendOne(stream)) {
            progressed = true;
            touched.add(stream);
          }
          if (stream.outQueue.length === 0) this.outPending.delete(stream);
        }
        if (!progressed) break;
      }
    } finally {
      this.pumping = false;
    }
    for (const stream of touched) stream.drained();
    if (this.tailHeld) {
      this.tailHeld = false;
      this.pumpLater(); // after the woken writers queued more, or with the tail alone if they did not
    }
  }

  private pumpLater(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    this.options.defer!(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  // ------------------------------------------------------------------ StreamHost

  schedule(stream: MuxStream): void {
    if (this.closedWith || stream.closed) return;
    this.outPending.add(stream);
    if (!this.streams.has(stream.id)) return;
    if (!this.options.defer) return this.pump();
    this.pumpLater();
  }

  consumed(stream: MuxStream, bytes: number): void {
    if (this.closedWith || bytes === 0) return;
    this.sessionUnacked += bytes;
    // Not once the peer sends nothing more on it; its bytes still go back to the session.
    const streamIncrement = !stream.remoteEnded && !stream.closed ? this.streamCreditDue(stream, bytes) : 0;
    // Version 2 carries both increments in one CREDIT (§5), so the session's rides along early.
    const combine = streamIncrement > 0 && (this.version ?? 1) >= COMBINED_CREDIT_VERSION;
    const sessionIncrement = this.sessionCreditDue(combine);
    if (combine && sessionIncrement > 0) return this.sendFrame(InnerKind.CREDIT, stream.id, encodeCombinedCredit(streamIncrement, sessionIncrement));
    if (streamIncrement > 0) this.sendFrame(InnerKind.CREDIT, stream.id, encodeUint32(streamIncrement));
    if (sessionIncrement > 0) this.sendFrame(InnerKind.CREDIT, 0, encodeUint32(sessionIncrement));
  }

  /** Stream credit to grant now for consumed bytes (0: none yet), growing or shrinking the window by the policy. */
  private streamCreditDue(stream: MuxStream, bytes: number): number {
    stream.unacked += bytes;
    let growth = 0;
    const sharing = this.sharing;
    if (sharing) {
      sharing.read(stream, bytes);
      if (sharing.shared(this.othersBusy(stream, sharing))) {
        // Others wait behind this stream's bytes in flight: take its extra back first (§5).
        const withheld = Math.min(stream.extraCredit, stream.unacked);
        stream.extraCredit -= withheld;
        stream.unacked -= withheld;
        stream.aloneBytes = 0;
        if (sharing.holds(stream.head.kind)) {
          // ... and keep an HTTP body's bytes in flight to the smaller shared window.
          const grant = sharing.sharedGrant(stream, stream.unacked, stream.recvAvailable);
          stream.unacked = 0;
          stream.recvAvailable += grant;
          return grant;
        }
      } else {
        stream.unacked += sharing.release(stream);
        stream.aloneBytes += bytes;
        // Alone for a whole window, not just between two short requests: only then grow.
        if (stream.unacked >= this.grantThreshold(stream) && stream.aloneBytes >= this.limits.streamWindow) growth = growthStep(this.limits.streamWindow, stream.extraCredit, this.options.receiveCredit);
      }
    }
    if (stream.unacked < this.grantThreshold(stream)) return 0;
    const increment = stream.unacked + growth;
    stream.extraCredit += growth;
    stream.recvAvailable += increment;
    stream.unacked = 0;
    return increment;
  }

  /**
   * Consumed bytes that make a stream CREDIT due: a quarter of the stream's current window
   * (the announced one plus the extra granted while it grew), so the peer always holds at least
   * three quarters of it. A grown 4 MiB window is topped up per MiB, not per 256 KiB: a quarter
   * of the CREDIT frames of a lone download or upload, each a cipher call and a message on
   * every hop (issue 9: 1 CREDIT per 5 DATA frames before).
   */
  private grantThreshold(stream: MuxStream): number {
    return (this.limits.streamWindow + stream.extraCredit) / 4;
  }

  /**
   * Session credit to grant now for consumed (or discarded) bytes: at a quarter window, or any
   * amount when it can ride on a stream CREDIT (`early`). Keeps the session's extra equal to
   * what busy streams were given, so it never caps a lone stream and shrinks back with it.
   */
  private sessionCreditDue(early: boolean): number {
    if (this.closedWith) return 0;
    const wanted = this.options.receiveCredit ? this.busyExtraCredit() : 0;
    if (this.sessionExtra > wanted) {
      const withheld = Math.min(this.sessionExtra - wanted, this.sessionUnacked);
      this.sessionExtra -= withheld;
      this.sessionUnacked -= withheld;
    }
    const growth = Math.max(0, wanted - this.sessionExtra);
    const increment = this.sessionUnacked + growth;
    if (increment === 0 || (!early && growth === 0 && this.sessionUnacked < this.limits.sessionWindow / 4)) return 0;
    this.sessionExtra += growth;
    this.sessionRecvAvailable += increment;
    this.sessionUnacked = 0;
    return increment;
  }

  /** Whether a stream besides `reader` may still send body bytes (and, with `quietBytes`, was active lately). */
  private othersBusy(reader: MuxStream, sharing: ReceiveSharing): boolean {
    for (const stream of this.streams.values()) {
      if (stream !== reader && !stream.remoteEnded && !stream.closed && sharing.recentlyActive(stream)) return true;
    }
    return false;
  }

  private busyExtraCredit(): number {
    let total = 0;
    for (const stream of this.streams.values()) {
      if (stream.extraCredit && !stream.remoteEnded && !stream.closed) total += stream.extraCredit;
    }
    return total;
  }

  resetStream(stream: MuxStream, code: StreamCodeName, reason: string): void {
    // Deferring groups frames, it never drops them: what was queued before the reset (a HEAD
    // whose body then failed) goes out first, as it would have without `defer`.
    if (this.pumpQueued) this.pump();
    if (this.streams.has(stream.id)) this.sendFrame(InnerKind.RESET, stream.id, encodeCodeReason(StreamCode[code], reason));
    this.removeStream(stream, new StreamError(code, reason || `stream reset: ${code}`));
  }

  validateResponseHead(head: ResponseHead): Uint8Array {
    const encoded = encodeResponseHead(head);
    const max = Math.min(this.limits.maxHeadBytes, this.peer?.maxHeadBytes ?? this.limits.maxHeadBytes);
    if (encoded.length > max) throw new StreamError('head_too_large', `response head of ${encoded.length} bytes exceeds ${max}`);
    return encoded;
  }

  peerMaxMessageBytes(): number {
    if (!this.peer) return this.limits.maxMessageBytes;
    return Math.max(1, Math.min(this.peer.maxMessageBytes, this.peer.streamWindow - MESSAGE_COST));
  }

  // ------------------------------------------------------------------ internals

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private writable(): boolean {
    return this.options.isWritable ? this.options.isWritable() : true;
  }

  private sendFrame(kind: number, streamId: number, body?: Uint8Array): void {
    this.options.send(encodeInner(kind, streamId, body));
  }

  private reportDroppedEvents(): void {
    const count = this.droppedEvents;
    this.droppedEvents = 0;
    this.events.push(encodeInner(InnerKind.EVENT, 0, encodeEvent({ name: 'sideband.events-dropped', data: { count } })));
  }

  private sendOne(stream: MuxStream): boolean {
    const item = stream.outQueue[0];
    if (!item || !this.streams.has(stream.id)) return false;
    if (item.kind === InnerKind.HEAD) {
      stream.outQueue.shift();
      stream.sentStatus = stream.responseStatus;
      this.sendHead(InnerKind.HEAD, stream, item.bytes);
      return true;
    }
    if (item.kind === InnerKind.END) {
      stream.outQueue.shift();
      this.sendFrame(InnerKind.END, stream.id);
      this.endSent(stream);
      return true;
    }
    const credit = Math.min(stream.sendCredit, this.sessionSendCredit);
    if (credit <= 0) return false;
    if (item.kind === InnerKind.DATA) return this.sendData(stream, credit);

    const fin = (item.flags & MessageFlag.fin) !== 0;
    let n: number;
    if (fin && credit >= item.bytes.length + MESSAGE_COST) n = item.bytes.length;
    else if (fin) n = Math.min(item.bytes.length - 1, credit); // a non-fin prefix; the fin fragment keeps ≥ 1 byte
    else n = Math.min(item.bytes.length, credit);
    if (n <= 0 && !(fin && n === item.bytes.length)) return false;
    const whole = n === item.bytes.length;
    const cost = n + (fin && whole ? MESSAGE_COST : 0);
    // A partial piece never carries `fin`: the rest follows as another fragment.
    const frame = new Uint8Array(INNER_HEADER_LENGTH + 1 + n);
    writeInnerHeader(frame, InnerKind.MESSAGE, stream.id);
    frame[INNER_HEADER_LENGTH] = whole ? item.flags : item.flags & ~MessageFlag.fin;
    frame.set(item.bytes.subarray(0, n), INNER_HEADER_LENGTH + 1);
    this.options.send(frame);
    if (whole) stream.outQueue.shift();
    else item.bytes = item.bytes.subarray(n);
    stream.sendCredit -= cost;
    this.sessionSendCredit -= cost;
    stream.outBytes -= n;
    return true;
  }

  /**
   * One DATA frame of up to `max` bytes, filled from as many queued DATA items as it takes:
   * a writer's 64 KiB chunks then leave as full frames, not a full one and a 33-byte tail.
   * With `sendParts` the bytes are not copied at all before the cipher; otherwise the frame is
   * their only copy.
   */
  private sendData(stream: MuxStream, credit: number): boolean {
    const max = Math.min(credit, this.limits.maxChunk);
    const n = Math.min(max, queuedData(stream, max));
    if (n < max && this.holdsTail(stream)) return false;
    if (this.options.sendParts) {
      const header = new Uint8Array(INNER_HEADER_LENGTH);
      writeInnerHeader(header, InnerKind.DATA, stream.id);
      this.options.sendParts(takeDataViews(stream, n, [header]));
    } else {
      const frame = new Uint8Array(INNER_HEADER_LENGTH + n);
      writeInnerHeader(frame, InnerKind.DATA, stream.id);
      takeData(stream, frame.subarray(INNER_HEADER_LENGTH));
      this.options.send(frame);
    }
    stream.sendCredit -= n;
    this.sessionSendCredit -= n;
    return true;
  }

  /**
   * Whether to keep a short rest of the queue (less than a frame) for the next round: only
   * while its writer waits on backpressure, so more bytes follow as soon as this round's
   * frames wake it, and only with `defer`, which runs that next round (pump) after the
   * writer's microtasks. A writer of 64 KiB chunks then fills 65 503-byte frames instead of
   * sending a 33-byte frame after each. A stalled producer delays the rest one round at most.
   */
  private holdsTail(stream: MuxStream): boolean {
    if (!this.options.defer || stream.localEnded || !stream.writerWaiting || this.limits.writeHighWater < this.limits.maxChunk) return false;
    this.tailHeld = true;
    return true;
  }

  /**
   * Sends an OPEN or HEAD. In version 2 it also carries the body bytes queued right behind it
   * and the END behind those, when credit and the peer's `maxHeadBytes` allow (docs/protocol.md
   * §3): a GET is one OPEN, a small response one HEAD.
   */
  private sendHead(kind: number, stream: MuxStream, head: Uint8Array): void {
    const inline = this.inlinePart(stream, head.length);
    if (!inline) return this.sendFrame(kind, stream.id, head);
    let body: Uint8Array | undefined;
    if (inline.bytes > 0) {
      body = new Uint8Array(inline.bytes);
      takeData(stream, body);
      stream.sendCredit -= inline.bytes;
      this.sessionSendCredit -= inline.bytes;
    }
    if (inline.end) stream.outQueue.shift();
    this.sendFrame(kind, stream.id, withInline(head, body ? { body, end: inline.end } : { end: true }));
    if (inline.end) this.endSent(stream);
  }

  /** What of the stream's queue (DATA items, then END) fits into its head frame, if anything. */
  private inlinePart(stream: MuxStream, headLength: number): { bytes: number; end: boolean } | undefined {
    if ((this.version ?? 1) < INLINE_VERSION || !this.peer) return undefined;
    const credit = Math.min(stream.sendCredit, this.sessionSendCredit);
    // Room left in the frame: the peer's head limit, minus the keys and the bin header (≤ 16 bytes).
    const room = Math.min(this.peer.maxHeadBytes, MAX_INNER_BODY) - headLength - 16;
    if (room < 0) return undefined;
    let bytes = 0;
    let index = 0;
    for (; index < stream.outQueue.length; index++) {
      const item = stream.outQueue[index]!;
      if (item.kind !== InnerKind.DATA) break;
      if (bytes + item.bytes.length > Math.min(room, credit)) return bytes > 0 ? { bytes, end: false } : undefined;
      bytes += item.bytes.length;
    }
    const end = stream.outQueue[index]?.kind === InnerKind.END;
    if (!end && bytes === 0) return undefined;
    return { bytes, end };
  }

  /** Our END is out (its own frame or inside a head): finish the stream or stop the peer's upload. */
  private endSent(stream: MuxStream): void {
    stream.endSent = true;
    if (stream.stopPeerAfterEnd && !stream.remoteEnded) {
      this.sendFrame(InnerKind.RESET, stream.id, encodeCodeReason(StreamCode.cancel, 'response complete'));
      this.detach(stream);
      // Read bytes (stream.unacked) are in the session's count already (consumed); only the
      // discarded ones go back now.
      this.returnSessionCredit(stream.discardBuffered());
      stream.unacked = 0;
      stream.finish();
      return this.activatePending();
    }
    this.maybeComplete(stream);
  }

  private activatePending(): void {
    if (!this.peer) return;
    while (this.pendingOpens.length && this.localOpenCount < this.peer.maxStreams) {
      const stream = this.pendingOpens.shift()!;
      if (stream.closed) continue;
      this.localOpenCount++;
      stream.sendCredit = this.peer.streamWindow;
      this.streams.set(stream.id, stream);
      const head = stream.encodedHead!;
      stream.encodedHead = undefined;
      this.sendHead(InnerKind.OPEN, stream, head);
      if (stream.outQueue.length) this.outPending.add(stream);
    }
    this.pump();
  }

  private removeStream(stream: MuxStream, error?: StreamError): void {
    if (this.streams.get(stream.id) === stream) {
      this.detach(stream);
    } else {
      const index = this.pendingOpens.indexOf(stream);
      if (index >= 0) this.pendingOpens.splice(index, 1);
      this.outPending.delete(stream);
    }
    if (error) {
      // Bytes the peer sent that nobody will read still count against the session window; read
      // ones (stream.unacked) were counted when consumed.
      const unread = stream.discardBuffered();
      stream.unacked = 0;
      stream.fail(error);
      if (unread) this.returnSessionCredit(unread);
    } else {
      stream.finish();
    }
    this.activatePending();
  }

  private returnSessionCredit(bytes: number): void {
    this.sessionUnacked += bytes;
    const increment = this.sessionCreditDue(false);
    if (increment > 0) this.sendFrame(InnerKind.CREDIT, 0, encodeUint32(increment));
  }

  private maybeComplete(stream: MuxStream): void {
    if (stream.endSent && stream.remoteEnded && this.streams.get(stream.id) === stream) {
      this.detach(stream);
      stream.finish();
      this.activatePending();
    }
  }

  /** Forgets a stream at the session level (routing, counts, scheduling). */
  private detach(stream: MuxStream): void {
    if (this.streams.get(stream.id) !== stream) return;
    this.streams.delete(stream.id);
    if (stream.local) this.localOpenCount--;
    else this.remoteOpenCount--;
    this.outPending.delete(stream);
  }

  private isRemoteId(id: number): boolean {
    const remoteParity = this.options.role === 'client' ? 0 : 1;
    return id !== 0 && id % 2 === remoteParity;
  }

  private dispatch(frame: InnerFrame): void {
    const { kind, streamId, body } = frame;
    if (streamId !== 0 && SESSION_KINDS.has(kind)) throw new StreamError('protocol', `session frame kind ${kind} on stream ${streamId}`);
    switch (kind) {
      case InnerKind.HELLO:
        return this.onHello(body);
      case InnerKind.OPEN:
        return this.onOpen(streamId, body);
      case InnerKind.HEAD: {
        const stream = this.streams.get(streamId);
        if (!stream) return;
        // Well-formed but out of place: a stream error, the session continues (docs/protocol.md §4).
        if (!stream.local) return this.resetStream(stream, 'protocol', 'HEAD from the opener');
        if (stream.responseHead) return this.resetStream(stream, 'protocol', 'second HEAD');
        if (body.length > this.limits.maxHeadBytes) return this.resetStream(stream, 'head_too_large', `head of ${body.length} bytes exceeds ${this.limits.maxHeadBytes}`);
        let head: ResponseHead;
        let inline: InlineBody;
        try {
          ({ head, inline } = decodeResponseFrame(body, this.inlineAllowed));
        } catch (error) {
          return this.resetStream(stream, 'protocol', (error as Error).message);
        }
        stream.receiveResponse(head);
        return this.receiveInline(stream, inline);
      }
      case InnerKind.DATA:
      case InnerKind.MESSAGE:
        return this.onData(kind, streamId, body);
      case InnerKind.END: {
        if (body.length !== 0) throw new StreamError('protocol', `END carries ${body.length} bytes`);
        const stream = this.streams.get(streamId);
        if (!stream) return;
        if (stream.remoteEnded) return this.resetStream(stream, 'protocol', 'second END');
        if (stream.local && !stream.responseHead) return this.resetStream(stream, 'protocol', 'END before HEAD');
        stream.remoteEnd();
        return this.maybeComplete(stream);
      }
      case InnerKind.RESET: {
        const { code, reason } = decodeCodeReason(body);
        const stream = this.streams.get(streamId);
        if (!stream) return;
        if (stream.remoteEnded) {
          // Their side ended intact; the reset only stops ours (docs/protocol.md §6).
          this.detach(stream);
          stream.stopSending(StreamError.fromWire(code, reason));
          return this.activatePending(); // the stream no longer counts: a waiting open may go
        }
        return this.removeStream(stream, StreamError.fromWire(code, reason));
      }
      case InnerKind.CREDIT: {
        if (body.length === 8 && streamId !== 0 && (this.version ?? 1) >= COMBINED_CREDIT_VERSION) {
          // Exactly CREDIT(stream, a) then CREDIT(0, b) (docs/protocol.md §5, version 2).
          const { stream: a, session: b } = decodeCombinedCredit(body);
          if (a === 0 || b === 0) throw new StreamError('protocol', 'CREDIT of zero');
          this.onCredit(streamId, a);
          return this.onCredit(0, b);
        }
        return this.onCredit(streamId, decodeUint32(body, 'CREDIT'));
      }
      case InnerKind.EVENT: {
        if (body.length > MAX_EVENT_BYTES) throw new StreamError('protocol', `EVENT of ${body.length} bytes exceeds ${MAX_EVENT_BYTES}`);
        const event = decodeEvent(body);
        this.options.onEvent?.(event.name, event.data);
        return;
      }
      case InnerKind.PING:
        if (body.length !== 8) throw new StreamError('protocol', 'PING body must be 8 bytes');
        return this.sendFrame(InnerKind.PONG, 0, body.slice());
      case InnerKind.PONG: {
        if (body.length !== 8) throw new StreamError('protocol', 'PONG body must be 8 bytes');
        const id = new DataView(body.buffer, body.byteOffset, 8).getUint32(4, false);
        const ping = this.pings.get(id);
        if (ping) {
          this.pings.delete(id);
          ping.resolve(this.now() - ping.sentAt);
        }
        return;
      }
      case InnerKind.GOAWAY: {
        const { lastStreamId } = decodeGoaway(body);
        this.goawayReceived = true;
        for (const stream of this.pendingOpens.splice(0)) stream.fail(new StreamError('going_away', 'peer is shutting down'));
        for (const stream of [...this.streams.values()]) {
          if (stream.local && stream.id > lastStreamId) this.removeStream(stream, new StreamError('going_away', 'peer did not accept this stream', true));
        }
        this.options.onGoaway?.();
        return;
      }
      case InnerKind.ERROR: {
        // The session is over whatever the body holds; an ERROR is never answered (§2).
        if (body.length < 2) return this.close(new StreamError('protocol', 'peer sent ERROR without a code', true));
        const { code, reason } = decodeCodeReason(body, true);
        return this.close(StreamError.fromWire(code, reason));
      }
      default:
        return; // unknown kinds are ignored so the protocol can grow (docs/protocol.md §2)
    }
  }

  private onHello(body: Uint8Array): void {
    if (this.peer) throw new StreamError('protocol', 'second HELLO');
    const hello = decodeHello(body);
    const version = negotiateVersion(hello.versions, this.options.versions);
    if (version === undefined) throw new StreamError('version', `no common version (peer speaks ${hello.versions.join(', ')})`);
    this.version = version;
    this.peer = hello;
    this.sessionSendCredit = hello.sessionWindow;
    this.activatePending();
  }

  private onOpen(streamId: number, body: Uint8Array): void {
    if (!this.isRemoteId(streamId) || streamId <= this.highestRemoteId) {
      throw new StreamError('protocol', `OPEN with invalid stream id ${streamId}`);
    }
    this.highestRemoteId = streamId;
    const refuse = (code: StreamCodeName, reason: string) => this.sendFrame(InnerKind.RESET, streamId, encodeCodeReason(StreamCode[code], reason));
    if (this.goawayReceived) return refuse('protocol', 'OPEN after its sender\'s GOAWAY');
    if (this.goawaySent) return refuse('going_away', 'shutting down');
    if (this.remoteOpenCount >= this.limits.maxStreams) return refuse('refused', `at most ${this.limits.maxStreams} concurrent streams`);
    if (body.length > this.limits.maxHeadBytes) return refuse('head_too_large', `head of ${body.length} bytes exceeds ${this.limits.maxHeadBytes}`);
    let head: OpenHead;
    let inline: InlineBody;
    try {
      ({ head, inline } = decodeOpenFrame(body, this.inlineAllowed));
    } catch (error) {
      return refuse('protocol', (error as Error).message);
    }
    const stream = new MuxStream(this, streamId, head, false, this.limits.streamWindow);
    stream.sendCredit = this.peer!.streamWindow;
    this.streams.set(streamId, stream);
    this.remoteOpenCount++;
    // The request's own body and end come first, so a handler sees the stream as sent (§3).
    this.receiveInline(stream, inline);
    if (stream.closed) return;
    if (this.options.onStream) this.options.onStream(stream);
    else this.resetStream(stream, 'refused', 'this side accepts no streams');
  }

  /** Version 2 reads `end` and `body` in heads; in version 1 they are unknown keys, so ignored. */
  private get inlineAllowed(): boolean {
    return (this.version ?? 1) >= INLINE_VERSION;
  }

  /** A head's inline body and end, handled exactly as the DATA and END frames they replace. */
  private receiveInline(stream: MuxStream, inline: InlineBody): void {
    if (inline.body) {
      const n = inline.body.length;
      if (n > this.sessionRecvAvailable) throw new StreamError('flow_control', `peer sent ${n} bytes with ${this.sessionRecvAvailable} session credit`);
      this.sessionRecvAvailable -= n;
      if (stream.head.kind !== 'http') {
        this.returnSessionCredit(n);
        return this.resetStream(stream, 'protocol', 'body in a channel head');
      }
      if (n > stream.recvAvailable) {
        this.returnSessionCredit(n);
        return this.resetStream(stream, 'flow_control', `peer sent ${n} bytes with ${stream.recvAvailable} stream credit`);
      }
      stream.recvAvailable -= n;
      stream.pushChunk(inline.body);
    }
    if (inline.end) {
      stream.remoteEnd();
      this.maybeComplete(stream);
    }
  }

  private onData(kind: number, streamId: number, body: Uint8Array): void {
    const isMessage = kind === InnerKind.MESSAGE;
    if (isMessage && body.length < 1) throw new StreamError('protocol', 'MESSAGE without flags');
    // Credit: DATA and MESSAGE payload bytes, plus MESSAGE_COST for a message's fin fragment (§5).
    const n = isMessage ? body.length - 1 + ((body[0]! & MessageFlag.fin) !== 0 ? MESSAGE_COST : 0) : body.length;
    if (n > this.sessionRecvAvailable) throw new StreamError('flow_control', `peer sent ${n} bytes with ${this.sessionRecvAvailable} session credit`);
    this.sessionRecvAvailable -= n;
    const stream = this.streams.get(streamId);
    if (!stream || stream.closed) {
      // Late data for a stream already closed or reset: discard, but give the session credit back.
      this.returnSessionCredit(n);
      return;
    }
    const misplaced = this.misplaced(kind, stream, body);
    if (misplaced) {
      this.returnSessionCredit(n);
      return this.resetStream(stream, 'protocol', misplaced);
    }
    if (n > stream.recvAvailable) {
      this.returnSessionCredit(n);
      return this.resetStream(stream, 'flow_control', `peer sent ${n} bytes with ${stream.recvAvailable} stream credit`);
    }
    stream.recvAvailable -= n;
    // Kept as a view, not copied: `receive` owns the frame it is given (see there).
    if (kind === InnerKind.DATA) return stream.pushChunk(body);
    const before = stream.bufferedIn;
    // Each queued message holds MESSAGE_COST of the window, so a compliant peer never passes this.
    const problem = stream.pushFragment(body, this.limits.maxMessageBytes, Math.ceil(this.limits.streamWindow / MESSAGE_COST));
    if (problem) {
      this.returnSessionCredit(n - (stream.bufferedIn - before)); // what the stream did not keep; the reset returns the rest
      this.resetStream(stream, problem, `channel message rejected: ${problem}`);
    }
  }

  /** Why a well-formed DATA/MESSAGE may not arrive on this stream now (docs/protocol.md §4, §5), if so. */
  private misplaced(kind: number, stream: MuxStream, body: Uint8Array): string | undefined {
    const name = kind === InnerKind.DATA ? 'DATA' : 'MESSAGE';
    if (stream.remoteEnded) return `${name} after END`;
    if (kind === InnerKind.DATA) {
      if (stream.head.kind !== 'http') return 'DATA on a channel';
      if (body.length === 0) return 'empty DATA'; // it would cost no credit (§5)
    } else if (stream.head.kind !== 'channel') {
      return 'MESSAGE on an http stream';
    }
    if (stream.local) {
      if (!stream.responseHead) return `${name} before HEAD`;
      if (kind === InnerKind.MESSAGE && stream.responseHead.status !== 200) return 'MESSAGE after a refusing HEAD';
    } else if (kind === InnerKind.MESSAGE && stream.sentStatus !== 200) {
      return 'MESSAGE before HEAD 200';
    }
    return undefined;
  }

  private onCredit(streamId: number, increment: number): void {
    if (increment === 0) throw new StreamError('protocol', 'CREDIT of zero');
    if (streamId === 0) {
      this.sessionSendCredit += increment;
      if (this.sessionSendCredit > 0xffffffff) throw new StreamError('flow_control', 'session credit overflow');
    } else {
      const stream = this.streams.get(streamId);
      if (!stream) return;
      stream.sendCredit += increment;
      // Scoped like an overrun: one stream's overflow resets that stream, the session's ends it (§5).
      if (stream.sendCredit > 0xffffffff) return this.resetStream(stream, 'flow_control', 'stream credit overflow');
    }
    this.pump();
  }
}

