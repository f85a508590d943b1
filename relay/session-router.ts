import { FrameType, SignalCode } from '../protocol/codes.js';
import type { Frame } from '../protocol/frame-codec.js';
import { parseSignal } from '../protocol/frames.js';
import { HeldFrames } from './held-frames.js';
import type { HttpErrorCode } from './http-error.js';
import type { RelayLogger } from './logger.js';
import type { RelayMetrics, SessionCloseReason, SessionStateName } from './metrics.js';
import type { RelayLimits } from './options.js';
import type { DaemonLink } from './daemon-link.js';
import { CloseCode, type ConnectionHandlers, type RelayConnection } from './relay-connection.js';
import { RESUME_SCOPE } from './token-verifier.js';
import { UsedSids } from './used-sids.js';

/** One client connection = one session (sbrp.md §4). */
interface Session {
  readonly sid: bigint;
  readonly did: string;
  readonly client: RelayConnection;
  state: SessionStateName;
  readonly held: HeldFrames;
}

/** A daemon id the relay knows: its one connection (if online) and the sessions it carries. */
interface DaemonEntry {
  readonly did: string;
  conn: DaemonLink | undefined;
  readonly sessions: Map<bigint, Session>;
  /** Grace timer while the daemon is away, or the deadline for pending sessions once it is back. */
  timer: NodeJS.Timeout | undefined;
}

/** A client connection's handlers: one small object per session instead of two closures. */
class ClientHandlers implements ConnectionHandlers {
  constructor(
    private readonly router: SessionRouter,
    private readonly session: Session,
  ) {}

  frame(frame: Frame, raw: Buffer): void {
    this.router.fromClient(this.session, frame, raw);
  }

  closed(): void {
    this.router.clientLeft(this.session);
  }
}

/** A daemon connection's handlers. */
class DaemonHandlers implements ConnectionHandlers {
  constructor(
    private readonly router: SessionRouter,
    private readonly entry: DaemonEntry,
    private readonly conn: DaemonLink,
  ) {}

  frame(frame: Frame, raw: Buffer): void {
    this.router.fromDaemon(this.entry, this.conn, frame, raw);
  }

  closed(): void {
    this.router.daemonLeft(this.entry, this.conn);
  }
}

export interface SessionRouterOptions {
  graceMs: number;
  limits: RelayLimits;
  /** Seconds a token may be past `exp` and still be accepted (for single-use sid memory). */
  clockSkewS: number;
  /** Longest client token lifetime the relay accepts (sbrp.md §5: 300 s). */
  maxClientLifetimeS: number;
  metrics: RelayMetrics;
  logger: RelayLogger;
  now: () => number;
  /** Set by a cluster backplane; absent on a single node, where nothing below changes. */
  cluster?: RouterClusterHooks;
}

/** How the router reaches sessions it does not hold itself (cluster/redis-backplane.ts). */
export interface RouterClusterHooks {
  /**
   * A frame from a daemon socket on this node for a SessionID the router has no session for:
   * true when it belongs to a client on another node and was sent on its way.
   */
  daemonFrame(did: string, conn: DaemonLink, frame: Frame, raw: Buffer): boolean;
  /** A local client session ended (any reason): the cluster registry forgets it. */
  sessionClosed(did: string, sid: bigint): void;
}

/**
 * The SBRP router (sbrp.md §4): client frames go to the daemon of their token's `did`, daemon
 * frames go to the client whose session the header SessionID names. It also runs the session
 * lifecycle across daemon drops: active → paused → pending → active, or expired.
 *
 * Frames a client sends while its session is paused or pending are never lost (sbrp.md §3):
 * the first such frame is held and the relay stops reading that client's socket (`ws.pause()`),
 * so TCP pushes back on it; the few frames ws had already parsed from the same chunk are held
 * too (HeldFrames, bounded). After `Signal(ready)` the held frames are flushed in order and
 * reading resumes. The socket is deliberately *not* paused when the session pauses: a client
 * that only pings keeps getting Pongs (its liveness check must not fail during the grace
 * period) and its departure is noticed at once.
 *
 * While a session is pending the daemon may send only Signal for it; other frames get
 * `session_not_found` (N), since the session is not yet bound to the new connection.
 */
export class SessionRouter {
  private readonly options: SessionRouterOptions;
  private readonly daemons = new Map<string, DaemonEntry>();
  private readonly sessions = new Map<bigint, Session>();
  private readonly usedSids: UsedSids;
  /** Revoked principals (token `sub`) → epoch ms until which tokens issued before the revocation could still be presented. */
  private readonly revoked = new Map<string, number>();
  private closed = false;

  constructor(options: SessionRouterOptions) {
    this.options = options;
    this.usedSids = new UsedSids(options.limits.maxRememberedSids);
  }

  isOnline(did: string): boolean {
    return this.daemons.get(did)?.conn !== undefined;
  }

  /**
   * Checked right before a client upgrade: 403 for a principal revoked while its token was in
   * flight, 409 for a live or already used `sid`, 429 over the per-daemon limit.
   */
  admitClient(did: string, sid: bigint, sub: string): HttpErrorCode | undefined {
    if ((this.revoked.get(sub) ?? 0) > this.options.now()) return 'forbidden';
    if (this.sessions.has(sid) || this.usedSids.has(sid, this.options.now())) return 'sid_in_use';
    const entry = this.daemons.get(did);
    if (entry && entry.sessions.size >= this.options.limits.maxSessionsPerDaemon) return 'too_many_sessions';
    return undefined;
  }

  /** Whether the router holds sessions or a connection for `did` (cluster: who must hear of a new owner). */
  hasDaemonEntry(did: string): boolean {
    return this.daemons.has(did);
  }

  /** The daemon link `did` is reached through here, if any. */
  daemonLink(did: string): DaemonLink | undefined {
    return this.daemons.get(did)?.conn;
  }

  /** SessionIDs of the local client sessions of `did` (cluster: session registry refresh). */
  sessionIdsOf(did: string): bigint[] {
    return [...(this.daemons.get(did)?.sessions.keys() ?? [])];
  }

  /** Whether `sid` is a local client session of `did`. */
  hasSession(did: string, sid: bigint): boolean {
    return this.sessions.get(sid)?.did === did;
  }

  /** SessionIDs used on this node with the epoch ms until which each stays single-use. */
  usedSidEntries(): IterableIterator<[bigint, number]> {
    return this.usedSids.entries();
  }

  /** Daemon ids that have local client sessions. */
  daemonIdsWithSessions(): string[] {
    return [...this.daemons.values()].filter((e) => e.sessions.size > 0).map((e) => e.did);
  }

  /**
   * Ends one session with a terminal Control to its client (cluster: a frame was lost on the
   * Redis hop, so the session must break loudly, scale-out.md §5). The daemon hears
   * `session_ended` as for any client that leaves. Returns whether the session existed.
   */
  failSession(sid: bigint, code: 'internal_error' | 'backpressure'): boolean {
    const session = this.sessions.get(sid);
    if (!session) return false;
    session.client.fail(code, 0n, 'cross-node delivery failed');
    return true;
  }

  /** A new daemon connection or link; a previous one of the same daemon is replaced (exactly one owner). */
  attachDaemon(conn: DaemonLink): void {
    const did = conn.token.did;
    // Closing the old owner runs daemonLeft synchronously: its sessions pause, then resume below.
    this.daemons.get(did)?.conn?.close(CloseCode.replaced, 'replaced by a newer connection');
    let entry = this.daemons.get(did);
    if (!entry) {
      entry = { did, conn: undefined, sessions: new Map(), timer: undefined };
      this.daemons.set(did, entry);
    }
    const owner = entry;
    clearTimeout(owner.timer);
    owner.timer = undefined;
    owner.conn = conn;
    conn.attach(new DaemonHandlers(this, owner, conn));
    this.options.logger.info('daemon online', { daemonId: did, connection: conn.id, sessionsWaiting: owner.sessions.size });
    if (owner.sessions.size === 0) return;
    if (!conn.token.scopes.has(RESUME_SCOPE)) {
      // sbrp.md §4: daemon back without session:resume → session_expired at once.
      for (const session of [...owner.sessions.values()]) this.expire(session);
      return;
    }
    for (const session of owner.sessions.values()) {
      session.state = 'pending';
      session.client.sendControl('session_pending', session.sid);
    }
    owner.timer = setTimeout(() => this.expirePending(owner), this.options.graceMs);
  }

  /** A new client connection; `registered` says whether its daemon id exists in the control plane. */
  attachClient(conn: RelayConnection, registered: boolean): void {
    const sid = conn.token.sid!;
    const did = conn.token.did;
    this.usedSids.remember(sid, (conn.token.exp + this.options.clockSkewS) * 1000);
    if (!registered) return this.refuseClient(conn, 'daemon_not_found');
    const entry = this.daemons.get(did);
    if (!entry?.conn) return this.refuseClient(conn, 'daemon_offline');
    const session: Session = { sid, did, client: conn, state: 'active', held: new HeldFrames(this.options.limits.maxHeldBytes) };
    entry.sessions.set(sid, session);
    this.sessions.set(sid, session);
    conn.attach(new ClientHandlers(this, session));
    this.options.logger.info('session opened', { daemonId: did, sessionId: sid.toString(10), connection: conn.id });
  }

  private refuseClient(conn: RelayConnection, code: 'daemon_not_found' | 'daemon_offline'): void {
    this.options.logger.info('session refused', { daemonId: conn.token.did, sessionId: conn.token.sid!.toString(10), code });
    conn.fail(code, conn.token.sid!);
  }

  /**
   * A principal (a device) was revoked: every client session whose token names it gets
   * `forbidden` (terminal, SID 0, sbrp.md §3) and its daemon `session_ended`; tokens issued
   * before now are refused at the upgrade until they have certainly expired. Returns how many
   * sessions were closed.
   */
  revokePrincipal(sub: string): number {
    const until = this.options.now() + (this.options.maxClientLifetimeS + 2 * this.options.clockSkewS) * 1000;
    this.revoked.delete(sub);
    if (this.revoked.size >= this.options.limits.maxRememberedSids) {
      const oldest = this.revoked.keys().next().value;
      if (oldest !== undefined) this.revoked.delete(oldest);
    }
    this.revoked.set(sub, until);
    let closed = 0;
    for (const session of [...this.sessions.values()]) {
      if (session.client.token.sub !== sub) continue;
      session.client.fail('forbidden', 0n, 'device revoked');
      closed++;
    }
    return closed;
  }

  sessionCounts(): Record<SessionStateName, number> {
    const counts = { active: 0, paused: 0, pending: 0 };
    for (const session of this.sessions.values()) counts[session.state]++;
    return counts;
  }

  /** Housekeeping for the periodic sweep. */
  prune(): void {
    const now = this.options.now();
    this.usedSids.prune(now);
    for (const [sub, until] of this.revoked) if (until <= now) this.revoked.delete(sub);
  }

  /**
   * Clears every timer and stops reacting to connection events, so the server can then drop
   * every socket without the router pausing sessions or arming grace timers. Idempotent.
   */
  close(): void {
    this.closed = true;
    for (const entry of this.daemons.values()) {
      clearTimeout(entry.timer);
      entry.timer = undefined;
    }
  }

  /** @internal Via ClientHandlers. */
  fromClient(session: Session, frame: Frame, raw: Buffer): void {
    // sbrp.md §1 Decision: a client frame for another SessionID is terminal for that client.
    if (frame.sessionId !== session.sid) return session.client.fail('session_not_found', frame.sessionId);
    // Held frames go first (a cross-node link out of credit holds them while the session stays active).
    if (session.state === 'active' && session.held.size === 0) {
      const daemon = this.daemons.get(session.did)?.conn;
      if (daemon?.trySend(raw)) {
        this.options.metrics.forwarded('client_to_daemon', raw.length);
        return;
      }
      // trySend closed a slow daemon (backpressure); that paused this session synchronously.
    }
    // Paused or pending: hold the frame and stop reading until the session resumes.
    if (!session.held.push(raw)) return session.client.fail('internal_error', 0n, 'held frames over the limit');
    session.client.hold('session');
  }

  /** @internal Via DaemonHandlers. */
  fromDaemon(entry: DaemonEntry, conn: DaemonLink, frame: Frame, raw: Buffer): void {
    if (entry.conn !== conn) return;
    const session = entry.sessions.get(frame.sessionId);
    // Only on a miss: a session whose client is on another node (a cluster owner's work).
    if (!session && this.options.cluster?.daemonFrame(entry.did, conn, frame, raw)) return;
    if (frame.type === FrameType.Signal) {
      if (!session) return conn.sendControl('session_not_found', frame.sessionId);
      const { signal } = parseSignal(frame);
      if (signal === SignalCode.close) return this.expire(session);
      if (signal === SignalCode.ready && session.state === 'pending') return this.resume(entry, session);
      // ready on an active session, or a signal code from a later version: nothing to do.
      return;
    }
    // sbrp.md §1 Decision: unknown or closed session on the daemon connection is not terminal.
    if (!session || session.state !== 'active') return conn.sendControl('session_not_found', frame.sessionId);
    if (session.client.trySend(raw)) this.options.metrics.forwarded('daemon_to_client', raw.length);
    // else the client was closed for backpressure and clientLeft told the daemon session_ended.
  }

  private resume(entry: DaemonEntry, session: Session): void {
    session.state = 'active';
    session.client.sendControl('session_resumed', session.sid);
    this.flushHeld(entry, session);
    if (entry.conn && ![...entry.sessions.values()].some((s) => s.state === 'pending')) {
      clearTimeout(entry.timer);
      entry.timer = undefined;
    }
  }

  /**
   * Sends held frames in order and reads the client again once none is left. If the daemon turns
   * out slow it is closed and the session pauses with the unsent frames still held; a cluster link
   * out of credit keeps them until `drainHeld` (credit returned).
   */
  private flushHeld(entry: DaemonEntry, session: Session): void {
    for (let next = session.held.peek(); next && session.state === 'active'; next = session.held.peek()) {
      if (!entry.conn?.trySend(next)) return;
      this.options.metrics.forwarded('client_to_daemon', next.length);
      session.held.shift();
    }
    if (session.state === 'active') session.client.release('session');
  }

  /** Cluster: credit came back for `sid`; frames held for want of it go now. */
  drainHeld(sid: bigint): void {
    const session = this.sessions.get(sid);
    const entry = session && this.daemons.get(session.did);
    if (session?.state === 'active' && entry) this.flushHeld(entry, session);
  }

  /** @internal Via DaemonHandlers. */
  daemonLeft(entry: DaemonEntry, conn: DaemonLink): void {
    if (entry.conn !== conn || this.closed) return;
    entry.conn = undefined;
    clearTimeout(entry.timer);
    entry.timer = undefined;
    this.options.logger.info('daemon offline', { daemonId: entry.did, connection: conn.id, sessionsPaused: entry.sessions.size });
    if (entry.sessions.size === 0) {
      this.daemons.delete(entry.did);
      return;
    }
    for (const session of entry.sessions.values()) {
      if (session.state === 'paused') continue;
      session.state = 'paused';
      session.client.sendControl('session_paused', session.sid);
    }
    // sbrp.md §4: grace expires → session_expired.
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      for (const session of [...entry.sessions.values()]) this.expire(session);
    }, this.options.graceMs);
  }

  /** The daemon came back but never signalled some sessions within the grace period. */
  private expirePending(entry: DaemonEntry): void {
    entry.timer = undefined;
    for (const session of [...entry.sessions.values()]) {
      if (session.state === 'pending') this.expire(session);
    }
  }

  /** @internal Via ClientHandlers. */
  clientLeft(session: Session): void {
    if (this.closed || this.sessions.get(session.sid) !== session) return; // relay closing, or already expired
    // sbrp.md §4: client leaves → session_ended to the daemon (when there is one to tell). Told
    // before the removal, which closes a cluster link that carried only this session.
    this.daemons.get(session.did)?.conn?.sendControl('session_ended', session.sid);
    this.removeSession(session, 'client_left');
  }

  private expire(session: Session): void {
    this.removeSession(session, 'expired');
    session.client.fail('session_expired', session.sid);
  }

  private removeSession(session: Session, reason: SessionCloseReason): void {
    this.options.metrics.sessionClosed(reason);
    this.options.logger.info('session closed', { daemonId: session.did, sessionId: session.sid.toString(10), reason });
    this.sessions.delete(session.sid);
    session.held.clear();
    this.options.cluster?.sessionClosed(session.did, session.sid);
    const entry = this.daemons.get(session.did);
    if (!entry) return;
    entry.sessions.delete(session.sid);
    if (entry.sessions.size !== 0) return;
    if (!entry.conn) this.dropEntry(entry);
    // A link to another node is kept only while sessions use it; closing it drops the entry.
    else if (entry.conn.remote) entry.conn.close();
  }

  private dropEntry(entry: DaemonEntry): void {
    clearTimeout(entry.timer);
    entry.timer = undefined;
    if (this.daemons.get(entry.did) === entry) this.daemons.delete(entry.did);
  }
}
