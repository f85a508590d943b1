import type { SessionRouter } from '../session-router.js';
import type { ClusterMetrics } from './cluster-metrics.js';
import type { Envelope } from './envelope-codec.js';
import { RemoteDaemon, type FlowLimits, type LinkPort } from './remote-daemon.js';

/**
 * The edge's half of cross-node sessions: per daemon id, the one RemoteDaemon link through which
 * this node's clients reach the daemon's owner. Envelopes from owners are checked against the
 * link (owner node and epoch: fencing, scale-out.md §3) before they reach it; an owner that
 * moved replaces the link through the router, exactly as a newer daemon socket replaces an
 * older one on a single node.
 */
export class RemoteLinks {
  private readonly links = new Map<string, RemoteDaemon>();
  private readonly port: LinkPort;
  private readonly flow: FlowLimits;
  private readonly metrics: ClusterMetrics;
  /** The epoch under which this node itself holds `did`'s socket, if it does. */
  private readonly ownedEpoch: (did: string) => bigint | undefined;
  private router: SessionRouter | undefined;

  constructor(port: Omit<LinkPort, 'linkClosed'>, flow: FlowLimits, metrics: ClusterMetrics, ownedEpoch: (did: string) => bigint | undefined) {
    this.port = {
      ...port,
      linkClosed: (link) => {
        if (this.links.get(link.token.did) === link) this.links.delete(link.token.did);
      },
    };
    this.flow = flow;
    this.metrics = metrics;
    this.ownedEpoch = ownedEpoch;
  }

  bind(router: SessionRouter): void {
    this.router = router;
  }

  get size(): number {
    return this.links.size;
  }

  get(did: string): RemoteDaemon | undefined {
    return this.links.get(did);
  }

  /** A new link to `did`'s owner (the router's attachDaemon then makes it the entry's daemon). */
  linkTo(did: string, node: string, epoch: bigint, resume: boolean): RemoteDaemon {
    const link = new RemoteDaemon(did, node, epoch, resume, this.port, this.flow);
    this.links.set(did, link);
    return link;
  }

  /** The link an envelope from an owner may act on, or undefined (counted as stale). */
  private current(envelope: Envelope): RemoteDaemon | undefined {
    const link = this.links.get(envelope.did);
    if (link && link.epoch === envelope.epoch && link.node === envelope.node) return link;
    this.metrics.staleDropped++;
    return undefined;
  }

  daemonFrame(envelope: Envelope): void {
    this.current(envelope)?.deliver(envelope);
  }

  credit(envelope: Envelope): void {
    this.current(envelope)?.credit(envelope.sid, envelope.seq);
  }

  /** The owner's daemon socket is gone: the router pauses the sessions (grace runs here). */
  daemonGone(envelope: Envelope): void {
    this.current(envelope)?.close();
  }

  /** Another node took the daemon's socket at a newer epoch: sessions here follow it. */
  ownerChanged(envelope: Envelope): void {
    const router = this.router!;
    const did = envelope.did;
    if (!router.hasDaemonEntry(did)) return;
    const current = router.daemonLink(did);
    const currentEpoch = current instanceof RemoteDaemon ? current.epoch : current ? this.ownedEpoch(did) : undefined;
    if (currentEpoch !== undefined && currentEpoch >= envelope.epoch) {
      this.metrics.staleDropped++;
      return;
    }
    const link = this.linkTo(did, envelope.node, envelope.epoch, (envelope.code & 1) === 1);
    // Replaces a local socket (closed with 4002, as a newer connection does on one node) or an
    // older link; sessions pause, then go pending or expire per the new daemon's scope.
    router.attachDaemon(link);
    if (!link.isOpen) return;
    const sids = router.sessionIdsOf(did);
    if (sids.length === 0) link.close();
    else for (const sid of sids) link.openSession(sid);
  }

  /** Owner nodes this node follows (for the heartbeat check). */
  nodes(into: Set<string>): void {
    for (const link of this.links.values()) into.add(link.node);
  }

  /** The owner node died: its links close and the router pauses their sessions. */
  ownerDied(node: string): void {
    for (const link of [...this.links.values()]) {
      if (link.node !== node) continue;
      for (let i = this.router!.sessionIdsOf(link.token.did).length; i > 0; i--) this.metrics.ended('peer_dead');
      link.close();
    }
  }

  /** Ends every session reached through a link (`end` fails it), then closes the links. */
  endAll(end: (sid: bigint) => void): void {
    for (const link of [...this.links.values()]) {
      for (const sid of this.router?.sessionIdsOf(link.token.did) ?? []) end(sid);
      link.close();
    }
  }

  /** Client→daemon bytes in flight on every link (metrics). */
  inflightBytes(): number {
    let total = 0;
    for (const link of this.links.values()) total += link.inflightBytes();
    return total;
  }

  /** Closes every link (shutdown: their credit timers must not outlive the node). */
  closeAll(): void {
    for (const link of [...this.links.values()]) link.close();
  }
}
