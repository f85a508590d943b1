import { ControlCode, type ControlName } from '../../protocol/codes.js';
import { SbrpError } from '../../protocol/errors.js';
import { validateFromSender } from '../../protocol/frame-codec.js';
import type { DaemonLink } from '../daemon-link.js';
import type { ConnectionHandlers } from '../relay-connection.js';
import { RESUME_SCOPE, type VerifiedToken } from '../token-verifier.js';
import { CreditFor, EnvelopeType, type Envelope } from './envelope-codec.js';

/** What a link needs from its backplane: an outbox to the owner node and a way to end a session. */
export interface LinkPort {
  /** Publishes to `node`'s inbox; false when the publisher cannot take it now (the session must end). */
  send(node: string, type: EnvelopeType, did: string, epoch: bigint, sid: bigint, seq: number, code: number, payload?: Uint8Array): boolean;
  /** A frame of `sid` was lost or out of order on the hop, or credit never came: end the session loudly (scale-out.md §5, §6). */
  sessionBroken(sid: bigint, why: 'gap' | 'publish_error' | 'bad_frame' | 'backpressure'): void;
  /** Credit came back for `sid`: frames the router held for want of it may go. */
  drain(sid: bigint): void;
  /** Counts a delivered cross-node frame. */
  received(bytes: number): void;
  linkClosed(link: RemoteDaemon): void;
}

/** Credit window per session and direction (scale-out.md §6). */
export interface FlowLimits {
  windowBytes: number;
  stallTimeoutMs: number;
}

/** Hop sequence numbers are u32 in the envelope; a session that would wrap ends instead. */
const MAX_SEQ = 0xffff_ffff;
let nextId = -1;

/**
 * On an edge node, the daemon whose socket another node (the owner) holds. To the session router
 * it is just the entry's daemon (DaemonLink): client frames go into the owner's inbox with the
 * lease epoch and a per-session hop sequence number; daemon frames from the owner come back
 * through `deliver`, are checked for order and fed to the router as if read from a local socket.
 * The session lifecycle (pause, grace, resume) therefore stays at the edge, with the client, and
 * survives the owner's death (scale-out.md §7).
 *
 * Credit (scale-out.md §6): at most `windowBytes` of a session's client frames are in flight to
 * the owner; past that `trySend` says no, the router holds the frame and stops reading the client
 * (as while paused) until the owner returns credit, and a session starved for `stallTimeoutMs`
 * ends with `backpressure`. Daemon frames are credited back to the owner once written to the
 * client socket, whose own send-buffer limit applies as for a local session.
 */
export class RemoteDaemon implements DaemonLink {
  /** Negative, so logs never confuse it with a socket's connection id. */
  readonly id = nextId--;
  readonly token: VerifiedToken;
  readonly node: string;
  readonly epoch: bigint;
  private readonly port: LinkPort;
  private readonly flow: FlowLimits;
  private handlers: ConnectionHandlers | undefined;
  /** Next client→daemon hop seq per session. */
  private readonly sent = new Map<bigint, number>();
  /** Expected daemon→client hop seq per session. */
  private readonly expected = new Map<bigint, number>();
  /** Client→daemon bytes the owner has not credited yet, per session. */
  private readonly inflight = new Map<bigint, number>();
  /** Daemon→client bytes written here and not yet credited back, per session. */
  private readonly consumed = new Map<bigint, number>();
  /** Sessions out of credit, with the timer that ends them. */
  private readonly stalls = new Map<bigint, NodeJS.Timeout>();
  private closed = false;

  constructor(did: string, node: string, epoch: bigint, resume: boolean, port: LinkPort, flow: FlowLimits) {
    this.node = node;
    this.epoch = epoch;
    this.port = port;
    this.flow = flow;
    this.token = { role: 'daemon', sub: did, did, scopes: new Set(resume ? [RESUME_SCOPE] : []), iat: 0, exp: 0, jti: '' };
  }

  get remote(): true {
    return true;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  attach(handlers: ConnectionHandlers): void {
    this.handlers = handlers;
  }

  /** Tells the owner a client session of this daemon lives here. */
  openSession(sid: bigint): void {
    if (!this.closed) this.port.send(this.node, EnvelopeType.sessionOpen, this.token.did, this.epoch, sid, 0, 0);
  }

  trySend(bytes: Uint8Array): boolean {
    if (this.closed) return false;
    const sid = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readBigUInt64BE(5);
    const seq = this.sent.get(sid) ?? 0;
    if (seq === MAX_SEQ) {
      this.port.sessionBroken(sid, 'gap');
      return false;
    }
    const used = this.inflight.get(sid) ?? 0;
    if (used + bytes.length > this.flow.windowBytes) {
      this.stall(sid);
      return false;
    }
    this.inflight.set(sid, used + bytes.length);
    this.sent.set(sid, seq + 1);
    if (this.port.send(this.node, EnvelopeType.clientFrame, this.token.did, this.epoch, sid, seq, 0, bytes)) return true;
    this.port.sessionBroken(sid, 'publish_error');
    return false;
  }

  sendControl(name: ControlName, sessionId = 0n): void {
    if (this.closed) return;
    if (name === 'session_ended') this.forget(sessionId);
    this.port.send(this.node, EnvelopeType.daemonControl, this.token.did, this.epoch, sessionId, 0, ControlCode[name]);
  }

  /** Drops the hop state of a session that ended here. */
  forget(sid: bigint): void {
    this.sent.delete(sid);
    this.expected.delete(sid);
    this.inflight.delete(sid);
    this.consumed.delete(sid);
    clearTimeout(this.stalls.get(sid));
    this.stalls.delete(sid);
  }

  /** The owner wrote `bytes` of this session's client frames to the daemon socket. */
  credit(sid: bigint, bytes: number): void {
    const used = this.inflight.get(sid);
    if (used === undefined || this.closed) return;
    this.inflight.set(sid, Math.max(0, used - bytes));
    const stall = this.stalls.get(sid);
    if (stall === undefined) return;
    clearTimeout(stall);
    this.stalls.delete(sid);
    this.port.drain(sid);
  }

  /** Client→daemon bytes in flight on this link (metrics). */
  inflightBytes(): number {
    let total = 0;
    for (const n of this.inflight.values()) total += n;
    return total;
  }

  private stall(sid: bigint): void {
    if (this.stalls.has(sid)) return;
    this.stalls.set(sid, setTimeout(() => {
      this.stalls.delete(sid);
      this.port.sessionBroken(sid, 'backpressure');
    }, this.flow.stallTimeoutMs));
  }

  /** A daemonFrame envelope of this link's epoch, from the owner's inbox message. */
  deliver(envelope: Envelope): void {
    if (this.closed) return;
    const sid = envelope.sid;
    const expected = this.expected.get(sid) ?? 0;
    if (envelope.seq !== expected) return this.port.sessionBroken(sid, 'gap');
    this.expected.set(sid, expected + 1);
    const raw = Buffer.from(envelope.payload.buffer, envelope.payload.byteOffset, envelope.payload.byteLength);
    let frame;
    try {
      // The owner validated it already; another node's bytes are still checked, not trusted.
      frame = validateFromSender(raw, 'daemon');
    } catch (error) {
      if (!(error instanceof SbrpError)) throw error;
      return this.port.sessionBroken(sid, 'bad_frame');
    }
    if (frame.sessionId !== sid) return this.port.sessionBroken(sid, 'bad_frame');
    this.port.received(raw.length);
    this.handlers?.frame(frame, raw);
    // Credit back in quarters of the window: few envelopes, and the owner never waits on the last one.
    const consumed = (this.consumed.get(sid) ?? 0) + raw.length;
    if (consumed < this.flow.windowBytes / 4 || this.closed || !this.expected.has(sid)) {
      if (this.expected.has(sid)) this.consumed.set(sid, consumed);
      return;
    }
    this.consumed.set(sid, 0);
    this.port.send(this.node, EnvelopeType.credit, this.token.did, this.epoch, sid, consumed, CreditFor.daemonFrames);
  }

  /** Local only: the owner learns from its own events (takeover, session_ended, heartbeats). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const stall of this.stalls.values()) clearTimeout(stall);
    this.stalls.clear();
    this.sent.clear();
    this.expected.clear();
    this.inflight.clear();
    this.consumed.clear();
    const handlers = this.handlers;
    this.handlers = undefined;
    try {
      handlers?.closed();
    } finally {
      this.port.linkClosed(this);
    }
  }
}
