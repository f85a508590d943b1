import type { RawData, WebSocket } from 'ws';
import { corkForTurn } from '../node/cork-for-turn.js';
import { ControlCode, FrameType, type ControlName } from '../protocol/codes.js';
import { SbrpError } from '../protocol/errors.js';
import { validateFromSender, type Frame } from '../protocol/frame-codec.js';
import { controlFrame, pongFrame } from '../protocol/frames.js';
import type { RelayLogger } from './logger.js';
import type { RelayMetrics } from './metrics.js';
import type { RelayLimits } from './options.js';
import { TokenBucket } from './token-bucket.js';
import type { VerifiedToken } from './token-verifier.js';

export type Role = 'client' | 'daemon';

/** Why the relay stopped reading a socket; reading resumes when no reason is left. */
export type HoldReason = 'rate' | 'session';

/** Hold reasons as bits: a number per connection instead of a Set (memory per idle session). */
const HOLD_BIT: Record<HoldReason, number> = { rate: 1, session: 2 };

/** The connection a socket belongs to, so one shared listener per event serves every socket. */
const CONNECTION = Symbol('sbrp.relayConnection');
type TaggedSocket = WebSocket & { [CONNECTION]?: RelayConnection };

function connectionOf(ws: WebSocket): RelayConnection | undefined {
  return (ws as TaggedSocket)[CONNECTION];
}

/*
 * Socket listeners shared by every connection (EventEmitter calls them with `this` = the socket).
 * Per-connection arrow functions cost a closure, a context and, under tsx's keep-names, a
 * dictionary property store each (about 300 B per listener on Node 20).
 */
function onSocketMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  connectionOf(this)?.handleMessage(data, isBinary);
}

function onSocketPing(this: WebSocket): void {
  connectionOf(this)?.handlePing();
}

function onSocketError(this: WebSocket, error: Error): void {
  connectionOf(this)?.handleError(error);
}

function onSocketClose(this: WebSocket): void {
  connectionOf(this)?.handleSocketClose();
}

function ignoreError(): void {}

/**
 * Frames up to this size are batched per turn ({@link corkForTurn}); larger ones are written
 * at once. Against the same relay without batching, in one run (relay bench pumps): 1 KiB
 * frames of one session 1.8–2.0× faster, but 64 KiB frames corked 0.6–0.85×; with this
 * limit the 64 KiB figures are back at 1.0× (issue 9).
 */
const CORK_MAX_FRAME_BYTES = 16 * 1024;

/** WebSocket close codes the relay uses; behaviour hangs on Control codes, these are courtesy. */
export const CloseCode = {
  /** After a terminal Control frame: the Control code says why. */
  afterControl: 1000,
  shutdown: 1001,
  idle: 4001,
  replaced: 4002,
} as const;

export interface ConnectionContext {
  limits: RelayLimits;
  metrics: RelayMetrics;
  logger: RelayLogger;
  debug: boolean;
  now: () => number;
  /** Called once, after the router's `closed` handler. One context may serve every connection. */
  onClosed: (connection: RelayConnection) => void;
}

/**
 * The router's side of a connection. Called as methods of the object passed to `attach`, so
 * one object per connection (a class instance) serves instead of a closure per handler.
 */
export interface ConnectionHandlers {
  /** A validated session-bound frame (01–04). `raw` is the whole message, forwarded unchanged. */
  frame(frame: Frame, raw: Buffer): void;
  /** The connection is gone (called once, synchronously from `close` or on the socket's close). */
  closed(): void;
}

let nextId = 1;

/**
 * One authenticated WebSocket: runs the relay validation order on every message (sbrp.md §1),
 * answers Ping, meters the message rate, and hands session-bound frames to the router. It owns
 * every timer and listener it creates and releases them on close, which is idempotent.
 */
export class RelayConnection {
  readonly id = nextId++;
  readonly role: Role;
  readonly token: VerifiedToken;
  lastSeen: number;
  private readonly ws: WebSocket;
  private readonly ctx: ConnectionContext;
  private readonly bucket: TokenBucket;
  /** HOLD_BIT flags of the reasons the socket is not being read. */
  private holds = 0;
  private handlers: ConnectionHandlers | undefined;
  private rateTimer: NodeJS.Timeout | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private lastRateNotice = -Infinity;
  private closed = false;

  constructor(ws: WebSocket, role: Role, token: VerifiedToken, ctx: ConnectionContext) {
    this.ws = ws;
    this.role = role;
    this.token = token;
    this.ctx = ctx;
    this.lastSeen = ctx.now();
    const rate = role === 'client' ? ctx.limits.clientRate : ctx.limits.daemonRate;
    this.bucket = new TokenBucket(rate.perSecond, rate.burst, this.lastSeen);
    ws.binaryType = 'nodebuffer';
    (ws as TaggedSocket)[CONNECTION] = this;
    ws.on('message', onSocketMessage);
    ws.on('ping', onSocketPing);
    ws.on('error', onSocketError);
    ws.on('close', onSocketClose);
  }

  attach(handlers: ConnectionHandlers): void {
    this.handlers = handlers;
  }

  /** A socket on this node (DaemonLink); a getter, so no per-connection field. */
  get remote(): false {
    return false;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  /** True while the relay deliberately does not read this socket (exempt from the idle sweep). */
  get readingHeld(): boolean {
    return this.holds !== 0;
  }

  /** Sends a non-terminal Control frame. Text only in debug mode (sbrp.md §1 Decision). */
  sendControl(name: ControlName, sessionId = 0n, text = ''): void {
    if (this.closed) return;
    this.ctx.metrics.control(name);
    this.ws.send(controlFrame(ControlCode[name], sessionId, this.ctx.debug ? text : ''));
  }

  /** Sends a terminal Control frame and closes (sbrp.md §3, T codes). */
  fail(name: ControlName, sessionId = 0n, text = ''): void {
    if (this.closed) return;
    this.sendControl(name, sessionId, text);
    this.close(CloseCode.afterControl);
  }

  /**
   * Sends frame bytes unless this peer is a slow consumer: over `maxBufferedBytes` it gets
   * `backpressure` and is closed instead (sbrp.md §4). Returns whether the bytes were sent.
   */
  trySend(bytes: Uint8Array): boolean {
    if (this.closed) return false;
    if (this.ws.bufferedAmount > this.ctx.limits.maxBufferedBytes) {
      this.fail('backpressure', 0n, 'send buffer over the limit');
      return false;
    }
    // Small frames this socket gets in this turn leave in one write (still one per message).
    // A large one is a write worth making on its own: corked, 64 KiB frames forwarded slower.
    if (bytes.length <= CORK_MAX_FRAME_BYTES) corkForTurn(this.ws);
    this.ws.send(bytes);
    return true;
  }

  /** Stops reading the socket: TCP then pushes back on the sender (sbrp.md §3). */
  hold(reason: HoldReason): void {
    if (this.closed) return;
    if (this.holds === 0) this.ws.pause();
    this.holds |= HOLD_BIT[reason];
  }

  release(reason: HoldReason): void {
    const bit = HOLD_BIT[reason];
    if ((this.holds & bit) === 0) return;
    this.holds &= ~bit;
    if (this.holds !== 0 || this.closed) return;
    this.lastSeen = this.ctx.now();
    this.ws.resume();
  }

  /**
   * Starts the close handshake and reports the connection gone at once, so routing state never
   * waits on a peer. A peer that does not finish the handshake is destroyed after `closeTimeoutMs`.
   */
  close(code: number = CloseCode.afterControl, reason = ''): void {
    if (this.closed) return;
    this.closed = true;
    this.clearRateTimer();
    // The peer's close frame can only be read if the socket is read again.
    if (this.holds !== 0) this.ws.resume();
    this.ws.close(code, reason);
    this.killTimer = setTimeout(() => this.ws.terminate(), this.ctx.limits.closeTimeoutMs);
    this.finish();
  }

  /** Drops the socket without a handshake (relay shutdown). */
  terminate(): void {
    this.close(CloseCode.shutdown, 'relay shutting down');
    this.ws.terminate();
  }

  /** @internal The socket's `message` listener. */
  handleMessage(data: RawData, isBinary: boolean): void {
    if (this.closed) return;
    this.lastSeen = this.ctx.now();
    this.meter();
    if (!isBinary) {
      this.fail('malformed_frame', 0n, 'text message'); // sbrp.md §1: one frame per binary message
      return;
    }
    const raw = Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
    let frame: Frame;
    try {
      frame = validateFromSender(raw, this.role);
    } catch (error) {
      if (error instanceof SbrpError && error.code in ControlCode) {
        this.fail(error.code as ControlName, error.sessionId, error.message);
      } else {
        this.internalError(error);
      }
      return;
    }
    if (frame.type === FrameType.Ping) {
      this.trySend(pongFrame(frame.payload)); // sbrp.md §4: answered, never forwarded
      return;
    }
    if (frame.type === FrameType.Pong) return; // the relay sends no Ping; a stray Pong is harmless
    try {
      this.handlers?.frame(frame, raw);
    } catch (error) {
      this.internalError(error);
    }
  }

  /**
   * Counts a message against the bucket. The message itself is always accepted (sbrp.md §3:
   * never drop a frame); over the rate the socket stops being read until the bucket refills,
   * and the sender hears `rate_limited` at most once per notice interval.
   */
  private meter(): void {
    const now = this.ctx.now();
    if (this.bucket.take(now)) return;
    if (now - this.lastRateNotice >= this.ctx.limits.rateNoticeIntervalMs) {
      this.lastRateNotice = now;
      this.sendControl('rate_limited', 0n, 'message rate exceeded');
    }
    if (this.rateTimer === undefined) {
      this.hold('rate');
      this.scheduleRateRelease(now);
    }
  }

  private scheduleRateRelease(now: number): void {
    const wait = Math.max(1, this.bucket.msUntilAvailable(now));
    this.rateTimer = setTimeout(() => {
      this.rateTimer = undefined;
      if (this.closed) return;
      const later = this.ctx.now();
      // Messages parsed after the pause still count, so the debt may need more than one wait.
      if (this.bucket.msUntilAvailable(later) > 0) this.scheduleRateRelease(later);
      else this.release('rate');
    }, wait);
  }

  /** @internal The socket's `ping` listener. */
  handlePing(): void {
    this.lastSeen = this.ctx.now();
  }

  /** @internal The socket's `error` listener. */
  handleError(error: Error): void {
    // ws closes the socket itself after a protocol error (e.g. a message over maxPayload → 1009).
    this.ctx.logger.debug('websocket error', { connection: this.id, role: this.role, code: (error as { code?: string }).code });
  }

  /** @internal The socket's `close` listener. */
  handleSocketClose(): void {
    clearTimeout(this.killTimer);
    this.killTimer = undefined;
    this.ws.off('message', onSocketMessage);
    this.ws.off('ping', onSocketPing);
    this.ws.off('error', onSocketError);
    this.ws.off('close', onSocketClose);
    // ws may still emit 'error' after close in rare cases; keep a no-op so it cannot crash the process.
    this.ws.on('error', ignoreError);
    (this.ws as TaggedSocket)[CONNECTION] = undefined;
    if (this.closed) return;
    this.closed = true;
    this.clearRateTimer();
    this.finish();
  }

  private finish(): void {
    const handlers = this.handlers;
    this.handlers = undefined;
    this.holds = 0;
    try {
      handlers?.closed();
    } finally {
      this.ctx.onClosed(this);
    }
  }

  private internalError(error: unknown): void {
    this.ctx.logger.error('relay fault while handling a frame', { connection: this.id, role: this.role, error: String(error) });
    this.fail('internal_error');
  }

  private clearRateTimer(): void {
    clearTimeout(this.rateTimer);
    this.rateTimer = undefined;
  }
}
