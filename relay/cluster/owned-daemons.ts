import { ControlCode, controlName } from '../../protocol/codes.js';
import type { Frame } from '../../protocol/frame-codec.js';
import type { DaemonLink } from '../daemon-link.js';
import type { RelayConnection } from '../relay-connection.js';
import { RESUME_SCOPE } from '../token-verifier.js';
import { ACK_WANTED, CreditFor, EnvelopeType, type Envelope } from './envelope-codec.js';
import type { FlowLimits, LinkPort } from './remote-daemon.js';

/** A client session of an owned daemon whose client socket is on another node (an edge). */
interface RemoteClient {
  readonly node: string;
  /** Next daemon→client hop seq. */
  sent: number;
  /** Expected client→daemon hop seq. */
  expected: number;
  /** Daemon→client bytes the edge has not credited yet. */
  inflight: number;
  /** Client→daemon bytes written to the daemon socket and not yet credited back. */
  consumed: number;
  /** Daemon frames waiting for credit (the daemon socket carries other sessions: it is not paused). */
  queue: Buffer[];
  queuedBytes: number;
  stall: NodeJS.Timeout | undefined;
}

const newClient = (node: string): RemoteClient => ({ node, sent: 0, expected: 0, inflight: 0, consumed: 0, queue: [], queuedBytes: 0, stall: undefined });

/** A daemon whose socket this node holds, under a lease epoch. */
export interface OwnedDaemon {
  readonly did: string;
  readonly conn: RelayConnection;
  readonly epoch: bigint;
  /** The lease value `<node>:<epoch>` (compare-and-expire). */
  readonly lease: string;
  readonly remote: Map<bigint, RemoteClient>;
}

export type OwnerPort = Pick<LinkPort, 'send' | 'received'> & {
  /** Counts a cross-node session ended on this side, by reason. */
  ended(reason: 'gap' | 'lost' | 'peer_dead' | 'subscriber_lost' | 'backpressure'): void;
  stale(): void;
};

export interface OwnerLimits extends FlowLimits {
  /** Daemon frames queued per session for want of credit; past it the session ends (a slow consumer). */
  maxQueuedBytes: number;
  /** Remote sessions per owned daemon (the cluster-wide session limit). */
  maxRemoteSessions: number;
}

/** Only these Controls may an edge ask the owner to send to the daemon (sbrp.md §3, N codes). */
const EDGE_CONTROLS = new Set(['session_ended', 'session_not_found']);
const MAX_SEQ = 0xffff_ffff;

/**
 * The owner's half of cross-node sessions: daemon frames for a client on another node go into
 * that node's inbox; client frames from edges are checked (epoch, hop order) and written to the
 * daemon's socket. A frame that cannot be delivered ends its session on both sides, with
 * `session_ended` to the daemon and `sessionLost` to the edge (never a silent gap).
 *
 * Credit (scale-out.md §6): at most `windowBytes` of a session's daemon frames are in flight to
 * its edge; more wait in a per-session queue (bounded by `maxQueuedBytes`, the send-buffer limit
 * of a local client) until the edge returns credit, and a session starved for `stallTimeoutMs`
 * ends with `backpressure`. Client frames are credited back once written to the daemon socket.
 */
export class OwnedDaemons {
  private readonly node: string;
  private readonly port: OwnerPort;
  private readonly limits: OwnerLimits;
  private readonly owned = new Map<string, OwnedDaemon>();

  constructor(node: string, port: OwnerPort, limits: OwnerLimits) {
    this.node = node;
    this.port = port;
    this.limits = limits;
  }

  get(did: string): OwnedDaemon | undefined {
    return this.owned.get(did);
  }

  values(): IterableIterator<OwnedDaemon> {
    return this.owned.values();
  }

  get size(): number {
    return this.owned.size;
  }

  /** Counts cross-node sessions held as owner (gauge). */
  remoteSessionCount(): number {
    let n = 0;
    for (const owned of this.owned.values()) n += owned.remote.size;
    return n;
  }

  /** Daemon→client bytes in flight or queued for credit (gauge). */
  inflightBytes(): number {
    let n = 0;
    for (const owned of this.owned.values()) for (const client of owned.remote.values()) n += client.inflight + client.queuedBytes;
    return n;
  }

  /** Records a freshly leased daemon socket with the remote sessions the lease found in Redis. */
  add(conn: RelayConnection, epoch: bigint, sessions: ReadonlyArray<[bigint, string]>): OwnedDaemon {
    const did = conn.token.did;
    const owned: OwnedDaemon = { did, conn, epoch, lease: `${this.node}:${epoch}`, remote: new Map() };
    for (const [sid, node] of sessions) {
      if (node !== this.node && owned.remote.size < this.limits.maxRemoteSessions) owned.remote.set(sid, newClient(node));
    }
    this.owned.set(did, owned);
    return owned;
  }

  /** Forgets `conn` if it is the owned socket of its daemon; returns the record it had. */
  remove(conn: RelayConnection): OwnedDaemon | undefined {
    const owned = this.owned.get(conn.token.did);
    if (owned?.conn !== conn) return undefined;
    this.owned.delete(owned.did);
    for (const client of owned.remote.values()) drop(client);
    return owned;
  }

  /** Router miss hook: a daemon frame for a session whose client is on an edge. */
  daemonFrame(did: string, conn: DaemonLink, frame: Frame, raw: Buffer): boolean {
    const owned = this.owned.get(did);
    if (owned?.conn !== conn) return false;
    const client = owned.remote.get(frame.sessionId);
    if (!client) return false;
    if (client.queue.length > 0 || client.inflight + raw.length > this.limits.windowBytes) {
      if (client.queuedBytes + raw.length > this.limits.maxQueuedBytes) {
        this.endRemote(owned, frame.sessionId, 'backpressure');
        return true;
      }
      client.queue.push(Buffer.from(raw));
      client.queuedBytes += raw.length;
      client.stall ??= setTimeout(() => {
        client.stall = undefined;
        this.endRemote(owned, frame.sessionId, 'backpressure');
      }, this.limits.stallTimeoutMs);
      return true;
    }
    this.forward(owned, frame.sessionId, client, raw);
    return true;
  }

  private forward(owned: OwnedDaemon, sid: bigint, client: RemoteClient, raw: Uint8Array): boolean {
    if (client.sent === MAX_SEQ || !this.port.send(client.node, EnvelopeType.daemonFrame, owned.did, owned.epoch, sid, client.sent++, 0, raw)) {
      this.endRemote(owned, sid, 'lost');
      return false;
    }
    client.inflight += raw.length;
    return true;
  }

  /** The edge wrote `bytes` of daemon frames to the client: send what waited for that credit. */
  private credit(owned: OwnedDaemon, sid: bigint, client: RemoteClient, bytes: number): void {
    client.inflight = Math.max(0, client.inflight - bytes);
    while (client.queue.length > 0 && client.inflight + client.queue[0]!.length <= this.limits.windowBytes) {
      const next = client.queue.shift()!;
      client.queuedBytes -= next.length;
      if (!this.forward(owned, sid, client, next)) return;
    }
    clearTimeout(client.stall);
    client.stall = undefined;
    if (client.queue.length > 0) {
      client.stall = setTimeout(() => {
        client.stall = undefined;
        this.endRemote(owned, sid, 'backpressure');
      }, this.limits.stallTimeoutMs);
    }
  }

  /** An envelope from an edge for a daemon that may be owned here. */
  fromEdge(envelope: Envelope): void {
    const owned = this.owned.get(envelope.did);
    if (!owned || owned.epoch !== envelope.epoch || !owned.conn.isOpen) {
      this.notOwned(owned, envelope);
      return;
    }
    const sid = envelope.sid;
    switch (envelope.type) {
      case EnvelopeType.sessionOpen:
        if (!owned.remote.has(sid)) {
          if (owned.remote.size >= this.limits.maxRemoteSessions) {
            this.port.send(envelope.node, EnvelopeType.sessionLost, owned.did, owned.epoch, sid, 0, ControlCode.internal_error);
            return;
          }
          owned.remote.set(sid, newClient(envelope.node));
        }
        if (envelope.code === ACK_WANTED) this.port.send(envelope.node, EnvelopeType.sessionOpened, owned.did, owned.epoch, sid, 0, 0);
        return;
      case EnvelopeType.credit: {
        const client = owned.remote.get(sid);
        if (client && client.node === envelope.node && envelope.code === CreditFor.daemonFrames) this.credit(owned, sid, client, envelope.seq);
        return;
      }
      case EnvelopeType.clientFrame: {
        let client = owned.remote.get(sid);
        // The first frame may overtake nothing (one publisher per node keeps order) but may
        // arrive for a session whose open was lost with an earlier subscriber: seq 0 opens it.
        if (!client && envelope.seq === 0 && owned.remote.size < this.limits.maxRemoteSessions) {
          owned.remote.set(sid, (client = newClient(envelope.node)));
        }
        if (!client || client.node !== envelope.node || envelope.seq !== client.expected) {
          if (client) this.endRemote(owned, sid, 'gap');
          else this.port.send(envelope.node, EnvelopeType.sessionLost, owned.did, envelope.epoch, sid, 0, ControlCode.internal_error);
          return;
        }
        client.expected++;
        if (!owned.conn.trySend(envelope.payload)) {
          // The daemon was a slow consumer and is closed: the edges hear daemonGone; this frame
          // is lost, so its session must end rather than resume with a gap.
          this.port.send(envelope.node, EnvelopeType.sessionLost, owned.did, envelope.epoch, sid, 0, ControlCode.internal_error);
          return;
        }
        this.port.received(envelope.payload.length);
        client.consumed += envelope.payload.length;
        if (client.consumed >= this.limits.windowBytes / 4) {
          this.port.send(client.node, EnvelopeType.credit, owned.did, owned.epoch, sid, client.consumed, CreditFor.clientFrames);
          client.consumed = 0;
        }
        return;
      }
      case EnvelopeType.daemonControl: {
        // Code 0: an announced session whose upgrade never happened; the daemon never knew it.
        if (envelope.code === 0) {
          this.forget(owned, sid);
          return;
        }
        const name = controlName(envelope.code);
        if (name === undefined || !EDGE_CONTROLS.has(name)) return;
        if (name === 'session_ended') this.forget(owned, sid);
        owned.conn.sendControl(name, sid);
        return;
      }
      default:
        return;
    }
  }

  /** Ends every remote session whose edge node is `node` (it died): the daemon hears session_ended. */
  edgeDied(node: string): void {
    for (const owned of this.owned.values()) {
      for (const [sid, client] of owned.remote) {
        if (client.node !== node) continue;
        this.forget(owned, sid);
        owned.conn.sendControl('session_ended', sid);
        this.port.ended('peer_dead');
      }
    }
  }

  /**
   * This node's subscriber was lost: client frames for any remote session may have been lost
   * with it, so every one ends, at the daemon (session_ended) and at its live edge (sessionLost,
   * whose client then gets internal_error).
   */
  endAllRemote(): void {
    for (const owned of this.owned.values()) {
      for (const sid of [...owned.remote.keys()]) this.endRemote(owned, sid, 'subscriber_lost');
    }
  }

  /** Stops every credit timer (shutdown). */
  clearTimers(): void {
    for (const owned of this.owned.values()) for (const client of owned.remote.values()) drop(client);
  }

  /** Nodes of the edges this node serves as owner. */
  edgeNodes(into: Set<string>): void {
    for (const owned of this.owned.values()) for (const client of owned.remote.values()) into.add(client.node);
  }

  /** Ends one remote session on both sides: session_ended to the daemon, sessionLost to the edge. */
  endRemote(owned: OwnedDaemon, sid: bigint, reason: 'gap' | 'lost' | 'backpressure' | 'publish_error' | 'subscriber_lost'): void {
    const client = owned.remote.get(sid);
    if (!client) return;
    this.forget(owned, sid);
    owned.conn.sendControl('session_ended', sid);
    const code = reason === 'backpressure' ? ControlCode.backpressure : ControlCode.internal_error;
    if (reason !== 'publish_error') this.port.send(client.node, EnvelopeType.sessionLost, owned.did, owned.epoch, sid, 0, code);
    this.port.ended(reason === 'publish_error' ? 'lost' : reason);
  }

  private forget(owned: OwnedDaemon, sid: bigint): void {
    const client = owned.remote.get(sid);
    if (!client) return;
    owned.remote.delete(sid);
    drop(client);
  }

  /**
   * An envelope for an epoch this node does not hold. A client frame is then lost, so the edge
   * must end that session; a session opened for a daemon that left here pauses at the edge
   * (daemonGone). Anything else is stale and dropped (fencing, scale-out.md §3).
   */
  private notOwned(owned: OwnedDaemon | undefined, envelope: Envelope): void {
    this.port.stale();
    if (envelope.type === EnvelopeType.clientFrame) {
      this.port.send(envelope.node, EnvelopeType.sessionLost, envelope.did, envelope.epoch, envelope.sid, 0, ControlCode.internal_error);
    } else if (envelope.type === EnvelopeType.sessionOpen) {
      // The edge looked up an older lease than the one held here: point it at this node.
      if (owned && owned.epoch > envelope.epoch && owned.conn.isOpen) {
        const resume = owned.conn.token.scopes.has(RESUME_SCOPE) ? 1 : 0;
        this.port.send(envelope.node, EnvelopeType.ownerChanged, owned.did, owned.epoch, 0n, 0, resume);
      } else {
        this.port.send(envelope.node, EnvelopeType.daemonGone, envelope.did, envelope.epoch, 0n, 0, 0);
      }
    }
  }
}

function drop(client: RemoteClient): void {
  clearTimeout(client.stall);
  client.stall = undefined;
  client.queue.length = 0;
  client.queuedBytes = 0;
}
