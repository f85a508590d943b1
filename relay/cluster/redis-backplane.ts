import { ControlCode } from '../../protocol/codes.js';
import type { Frame } from '../../protocol/frame-codec.js';
import type { DaemonLink } from '../daemon-link.js';
import type { RelayLogger } from '../logger.js';
import type { RelayMetrics } from '../metrics.js';
import type { RelayConnection } from '../relay-connection.js';
import type { RouterClusterHooks, SessionRouter } from '../session-router.js';
import { RESUME_SCOPE, type VerifiedToken } from '../token-verifier.js';
import type { Admission, Backplane } from './backplane.js';
import { ClusterAdmission, parseLease, type ClientAdmission, type DaemonAdmission } from './cluster-admission.js';
import type { CrossNodeEndReason } from './cluster-metrics.js';
import type { ClusterTimers } from './cluster-options.js';
import { isBatch, splitBatch } from './envelope-batch.js';
import { ACK_WANTED, CreditFor, decodeEnvelope, encodeEnvelope, EnvelopeError, EnvelopeType, MAX_DAEMON_ID_BYTES, type Envelope } from './envelope-codec.js';
import { InboxProbe } from './inbox-probe.js';
import { SessionAnnouncements } from './session-announcements.js';
import { renewLeases, touchSessions } from './lease-renewal.js';
import { beatAndFindDead } from './node-heartbeat.js';
import { OwnedDaemons } from './owned-daemons.js';
import { PublishBatcher } from './publish-batcher.js';
import { connectRedis, type RedisConnections } from './redis-connections.js';
import { RedisKeys } from './redis-keys.js';
import { BackplaneScripts } from './redis-scripts.js';
import { RemoteDaemon, type FlowLimits, type LinkPort } from './remote-daemon.js';
import { RemoteLinks } from './remote-links.js';

export interface RedisBackplaneOptions {
  redisUrl: string;
  nodeId: string;
  timers: ClusterTimers;
  /** The daemon session limit, enforced cluster-wide. */
  maxSessionsPerDaemon: number;
  /** Credit window and stall timeout per session and direction (scale-out.md §6). */
  flow: FlowLimits;
  /** Daemon frames an owner queues per session for want of credit (a local socket's send-buffer limit). */
  maxQueuedBytes: number;
  /** Client upgrades that may wait at once for the owner's confirmation (the connection limit). */
  maxPendingUpgrades: number;
  metrics: RelayMetrics;
  logger: RelayLogger;
  /** Closes a revoked principal's sessions on this node (SessionRouter.revokePrincipal). */
  onRevoked: (sub: string) => void;
}

/** What a failed publish must undo, per envelope in it. */
interface SentEnvelope {
  type: EnvelopeType;
  did: string;
  sid: bigint;
}

const utf8 = new TextEncoder();
/** daemonControl code 0: the owner forgets an announced session quietly (its upgrade never happened). */
const FORGET_SESSION = 0;

/**
 * N relay processes coordinated through Redis (scale-out.md). Each daemon's socket lives on one
 * node, its owner, under a lease with a fencing epoch; clients connect to any node (an edge),
 * whose router reaches the daemon through a RemoteDaemon link; envelopes travel over per-node
 * PUB/SUB inboxes on one publish connection, each checked for epoch and hop order. Sessions keep
 * their lifecycle at the edge, so a pause survives the owner's death. Every way a frame can be
 * lost ends its session with a Control code instead of leaving a gap.
 */
export class RedisBackplane implements Backplane {
  readonly kind = 'redis';
  readonly routerHooks: RouterClusterHooks;
  private readonly o: RedisBackplaneOptions;
  private readonly node: string;
  private readonly inbox: string;
  private redis: RedisConnections | undefined;
  private scripts: BackplaneScripts | undefined;
  private admission: ClusterAdmission | undefined;
  private router: SessionRouter | undefined;
  private readonly owned: OwnedDaemons;
  /** Edge side: daemon id → the current link to its owner node. */
  private readonly links: RemoteLinks;
  private readonly timers: NodeJS.Timeout[] = [];
  private everSubscribed = false;
  /** False from a lost command connection until this node's state is written back to Redis. */
  private resynced = true;
  private resyncing = false;
  private readonly probe: InboxProbe;
  private readonly announcements: SessionAnnouncements;
  private closed = false;
  private readonly batcher: PublishBatcher<SentEnvelope>;

  constructor(options: RedisBackplaneOptions) {
    this.o = options;
    this.node = options.nodeId;
    this.inbox = RedisKeys.inbox(this.node);
    this.batcher = new PublishBatcher<SentEnvelope>({
      publish: (node, message) => {
        options.metrics.cluster.inboxPublishes++;
        return this.redis!.publisher.publish(RedisKeys.inbox(node), message);
      },
      failed: (sent) => this.publishFailed(sent.type, sent.did, sent.sid),
    });
    const metrics = options.metrics.cluster;
    const send: LinkPort['send'] = (node, type, did, epoch, sid, seq, code, payload) => this.send(node, type, did, epoch, sid, seq, code, payload);
    const received = (bytes: number): void => {
      metrics.frames.received++;
      metrics.bytes.received += bytes;
    };
    this.links = new RemoteLinks({
      send,
      received,
      sessionBroken: (sid, why) => this.endSession(sid, why),
      drain: (sid) => this.router?.drainHeld(sid),
    }, options.flow, metrics, (did) => this.owned.get(did)?.epoch);
    this.owned = new OwnedDaemons(this.node, {
      send,
      received,
      ended: (reason) => metrics.ended(reason),
      stale: () => metrics.staleDropped++,
    }, { ...options.flow, maxQueuedBytes: options.maxQueuedBytes, maxRemoteSessions: options.maxSessionsPerDaemon });
    this.announcements = new SessionAnnouncements(options.timers.deadAfterMs, options.maxPendingUpgrades);
    this.probe = new InboxProbe(options.timers.probeIntervalMs, () => this.send(this.node, EnvelopeType.probe, '', 0n, 0n, 0, 0), () => {
      this.o.metrics.cluster.deafSubscriber++;
      this.o.logger.warn('inbox subscriber deaf; ending cross-node sessions and reconnecting', {});
      this.endCrossNode('subscriber_lost');
      this.redis?.subscriber.disconnect(true);
    });
    this.routerHooks = {
      daemonFrame: (did: string, conn: DaemonLink, frame: Frame, raw: Buffer) => this.owned.daemonFrame(did, conn, frame, raw),
      sessionClosed: (did: string, sid: bigint) => {
        this.links.get(did)?.forget(sid);
        this.redis?.command.hdel(RedisKeys.sessions(did), sid.toString(10)).catch(() => {});
      },
    };
  }

  async start(router: SessionRouter): Promise<void> {
    this.router = router;
    this.links.bind(router);
    const redis = await connectRedis(this.o.redisUrl, `sideband-relay:${this.node}`);
    this.redis = redis;
    this.scripts = new BackplaneScripts(redis.command);
    this.admission = new ClusterAdmission({
      node: this.node, command: redis.command, scripts: this.scripts, leaseTtlMs: this.o.timers.leaseTtlMs,
      maxSessionsPerDaemon: this.o.maxSessionsPerDaemon,
      announce: (owner, did, sid) => {
        const answer = this.announcements.wait(did, sid);
        if (!this.send(owner.node, EnvelopeType.sessionOpen, did, owner.epoch, sid, 0, ACK_WANTED)) this.announcements.answer(did, sid, { kind: 'timeout' });
        return answer;
      },
    });
    redis.command.on('close', () => (this.resynced = false));
    redis.command.on('ready', () => void this.resync());
    redis.subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => this.onMessage(channel, message));
    redis.subscriber.on('close', () => this.subscriberLost());
    redis.subscriber.on('ready', () => {
      if (this.everSubscribed) this.o.metrics.cluster.subscriberReconnects++;
    });
    await redis.subscriber.subscribe(this.inbox, RedisKeys.revocations);
    // After a reconnect ioredis subscribes again by itself; only the probe's echo proves it
    // worked, so the node is healthy again there, not on 'ready'.
    this.everSubscribed = true;
    await this.heartbeat();
    const { timers } = this.o;
    this.every(timers.heartbeatMs, () => this.heartbeat());
    this.every(timers.leaseRenewMs, () => this.renew());
    this.every(Math.max(10, Math.floor(timers.probeIntervalMs / 2)), () => this.probe.tick(this.redis?.subscriber.status === 'ready'));
    this.o.metrics.cluster.setGaugeSource({
      redisUp: () => this.redis?.ready() ?? false,
      subscriberHealthy: () => this.probe.healthy,
      ownedDaemons: () => this.owned.size,
      remoteLinks: () => this.links.size,
      remoteSessions: () => this.owned.remoteSessionCount(),
      inflightBytes: () => this.owned.inflightBytes() + this.links.inflightBytes(),
    });
  }

  healthy(): boolean {
    return !this.closed && (this.redis?.ready() ?? false) && this.probe.healthy && this.resynced;
  }

  // ---- admission -------------------------------------------------------------------------

  async admit(token: VerifiedToken): Promise<Admission> {
    if (utf8.encode(token.did).length > MAX_DAEMON_ID_BYTES) return { refusal: 'forbidden' };
    // Redis unreachable: no cross-node state can be checked, so nothing new is admitted.
    if (!this.healthy()) return { refusal: 'backplane_unavailable' };
    try {
      return token.role === 'client' ? await this.admission!.client(token) : await this.admission!.daemon(token);
    } catch (error) {
      this.o.logger.warn('backplane admission failed', { role: token.role, error: String(error) });
      return { refusal: 'backplane_unavailable' };
    }
  }

  abandon(token: VerifiedToken, admission: Admission): void {
    const command = this.redis?.command;
    if (!command || admission.refusal) return;
    if (token.role === 'client' && (admission as ClientAdmission).registered) {
      command.hdel(RedisKeys.sessions(token.did), token.sid!.toString(10)).catch(() => {});
      const owner = (admission as ClientAdmission).owner;
      if (owner && owner.node !== this.node) this.send(owner.node, EnvelopeType.daemonControl, token.did, owner.epoch, token.sid!, 0, FORGET_SESSION);
    } else if (token.role === 'daemon') {
      const { epoch } = admission as DaemonAdmission;
      this.scripts!.run('sbRelease', RedisKeys.owner(token.did), `${this.node}:${epoch}`).catch(() => {});
    }
  }

  accepting(conn: RelayConnection, admission: Admission): void {
    const did = conn.token.did;
    if (conn.role === 'daemon') {
      // Recorded before the router replaces an older socket of this daemon, so that socket's
      // close is not mistaken for the daemon leaving.
      const { epoch, sessions } = admission as DaemonAdmission;
      this.owned.add(conn, epoch!, sessions ?? []);
      return;
    }
    const owner = (admission as ClientAdmission).owner;
    if (!owner || owner.node === this.node) return;
    const current = this.router!.daemonLink(did);
    if (current && !current.remote) return;
    if (current instanceof RemoteDaemon && current.epoch >= owner.epoch) return;
    // The lease does not say whether the daemon may resume; a link made here assumes it may
    // (paused sessions then wait for Signal or grace). The owner's ownerChanged carries the truth.
    this.router!.attachDaemon(this.links.linkTo(did, owner.node, owner.epoch, true));
  }

  accepted(conn: RelayConnection, admission: Admission): void {
    const did = conn.token.did;
    if (conn.role === 'daemon') {
      const { epoch, previous, sessions } = admission as DaemonAdmission;
      const notify = new Set<string>();
      for (const [, node] of sessions ?? []) notify.add(node);
      const before = previous ? parseLease(previous) : undefined;
      if (before) {
        notify.add(before.node);
        this.o.metrics.cluster.takeovers++;
      }
      notify.delete(this.node);
      const resume = conn.token.scopes.has(RESUME_SCOPE) ? 1 : 0;
      for (const node of notify) this.send(node, EnvelopeType.ownerChanged, did, epoch!, 0n, 0, resume);
      return;
    }
    const link = this.router!.daemonLink(did);
    if (!conn.isOpen) {
      // Refused after the upgrade (daemon_offline / daemon_not_found): free its registry slot.
      this.redis?.command.hdel(RedisKeys.sessions(did), conn.token.sid!.toString(10)).catch(() => {});
      if (link instanceof RemoteDaemon && this.router!.sessionIdsOf(did).length === 0) link.close();
      return;
    }
    if (link instanceof RemoteDaemon) link.openSession(conn.token.sid!);
  }

  connectionClosed(conn: RelayConnection): void {
    if (conn.role !== 'daemon') return;
    const owned = this.owned.remove(conn);
    if (!owned) return;
    this.scripts?.run('sbRelease', RedisKeys.owner(owned.did), owned.lease).catch(() => {});
    const edges = new Set<string>();
    for (const client of owned.remote.values()) edges.add(client.node);
    for (const node of edges) this.send(node, EnvelopeType.daemonGone, owned.did, owned.epoch, 0n, 0, 0);
  }

  async isOnline(did: string): Promise<boolean> {
    if (!this.admission) return false;
    try {
      const owner = await this.admission!.owner(did);
      return owner !== undefined && (owner.node !== this.node || this.router!.isOnline(did));
    } catch {
      return false;
    }
  }

  revoke(sub: string, forMs: number): void {
    this.o.onRevoked(sub);
    const command = this.redis?.command;
    if (!command) return;
    command.set(RedisKeys.revoked(sub), String(Date.now()), 'PX', Math.max(1, Math.ceil(forMs))).catch((error: unknown) => {
      this.o.logger.error('revocation not stored in Redis', { error: String(error) });
    });
    this.redis!.publisher.publish(RedisKeys.revocations, sub).catch((error: unknown) => {
      this.o.logger.error('revocation not published', { error: String(error) });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    this.probe.close();
    this.announcements.close();
    // Their credit timers must not outlive the node (the router is closed: nothing else reacts).
    this.links.closeAll();
    this.owned.clearTimers();
    // What this turn queued still gets its chance before the publisher disconnects.
    this.batcher.flushNow();
    const redis = this.redis;
    if (!redis) return;
    // Best effort: leases and the heartbeat would expire anyway.
    const command = redis.command.status === 'ready' ? redis.command : undefined;
    await Promise.allSettled([
      ...[...this.owned.values()].map((o) => this.scripts!.run('sbRelease', RedisKeys.owner(o.did), o.lease)),
      command?.del(RedisKeys.node(this.node)),
    ]);
    redis.close();
  }

  // ---- envelopes ---------------------------------------------------------------------------

  private send(node: string, type: EnvelopeType, did: string, epoch: bigint, sid: bigint, seq: number, code: number, payload?: Uint8Array): boolean {
    const publisher = this.redis?.publisher;
    if (!publisher || publisher.status !== 'ready') {
      this.o.metrics.cluster.publishErrors++;
      return false;
    }
    const message = encodeEnvelope({ type, node: this.node, did, epoch, sid, seq, code, ...(payload && { payload }) });
    if (payload) {
      this.o.metrics.cluster.frames.sent++;
      this.o.metrics.cluster.bytes.sent += payload.length;
    }
    if (type !== EnvelopeType.probe) {
      // Leaves with the other envelopes for `node` of this turn, as one PUBLISH (publish-batcher.ts).
      this.batcher.send(node, message, { type, did, sid });
      return true;
    }
    publisher.publish(RedisKeys.inbox(node), message).then(
      () => this.probe.sent(), // the echo's deadline starts when Redis took it
      () => this.publishFailed(type, did, sid),
    );
    return true;
  }

  /** A publish Redis did not take: the frame is lost, so its session ends (scale-out.md §5). */
  private publishFailed(type: EnvelopeType, did: string, sid: bigint): void {
    this.o.metrics.cluster.publishErrors++;
    if (this.closed) return;
    if (type === EnvelopeType.clientFrame) this.endSession(sid, 'publish_error');
    else if (type === EnvelopeType.daemonFrame) {
      const owned = this.owned.get(did);
      if (owned) this.owned.endRemote(owned, sid, 'publish_error');
    } else if (type === EnvelopeType.probe) this.probe.unsent();
  }

  private endSession(sid: bigint, why: CrossNodeEndReason): void {
    if (this.router?.failSession(sid, why === 'backpressure' ? 'backpressure' : 'internal_error')) this.o.metrics.cluster.ended(why);
  }

  private onMessage(channel: Buffer, message: Buffer): void {
    this.probe.heard();
    if (channel.length === RedisKeys.revocations.length && channel.toString('latin1') === RedisKeys.revocations) {
      this.o.onRevoked(message.toString('utf8'));
      return;
    }
    if (!isBatch(message)) return this.deliver(message);
    let parts: Buffer[];
    try {
      parts = splitBatch(message);
    } catch (error) {
      this.malformed(error);
      return;
    }
    // In order, each on its own: epoch fencing and hop seq work as if the envelopes came alone.
    for (const part of parts) this.deliver(part);
  }

  private malformed(error: unknown): void {
    if (!(error instanceof EnvelopeError)) throw error;
    this.o.metrics.cluster.malformedEnvelopes++;
    this.o.logger.warn('malformed envelope on the inbox', { error: error.message });
  }

  private deliver(message: Buffer): void {
    let envelope: Envelope;
    try {
      envelope = decodeEnvelope(message);
    } catch (error) {
      this.malformed(error);
      return;
    }
    switch (envelope.type) {
      case EnvelopeType.clientFrame:
      case EnvelopeType.sessionOpen:
      case EnvelopeType.daemonControl:
        return this.owned.fromEdge(envelope);
      case EnvelopeType.daemonFrame:
        return this.links.daemonFrame(envelope);
      case EnvelopeType.sessionOpened:
        this.announcements.answer(envelope.did, envelope.sid, { kind: 'ok' });
        return;
      case EnvelopeType.sessionLost:
        if (this.announcements.answer(envelope.did, envelope.sid, { kind: 'refused' })) return;
        // Only a session of that daemon: a stray envelope cannot end another daemon's session.
        if (!this.router?.hasSession(envelope.did, envelope.sid)) return;
        return this.endSession(envelope.sid, envelope.code === ControlCode.backpressure ? 'backpressure' : 'lost');
      case EnvelopeType.credit:
        if (envelope.code === CreditFor.daemonFrames) return this.owned.fromEdge(envelope);
        return this.links.credit(envelope);
      case EnvelopeType.daemonGone:
        this.announcements.answerDaemon(envelope.did, { kind: 'gone' });
        return this.links.daemonGone(envelope);
      case EnvelopeType.ownerChanged:
        this.announcements.answerDaemon(envelope.did, { kind: 'moved', owner: { node: envelope.node, epoch: envelope.epoch } });
        return this.links.ownerChanged(envelope);
      case EnvelopeType.probe:
        return; // heard() above already counted it
    }
  }

  // ---- liveness ----------------------------------------------------------------------------

  private every(ms: number, task: () => Promise<void> | void): void {
    const timer = setInterval(() => {
      if (this.closed) return;
      void Promise.resolve()
        .then(task)
        .catch((error: unknown) => this.o.logger.debug('backplane task failed', { error: String(error) }));
    }, ms);
    this.timers.push(timer);
  }

  /** Writes this node's heartbeat and checks every node it exchanges sessions with. */
  private async heartbeat(): Promise<void> {
    const { command } = this.redis!;
    if (command.status !== 'ready') return;
    if (!this.resynced && !this.resyncing) return this.resync();
    const peers = new Set<string>();
    this.links.nodes(peers);
    this.owned.edgeNodes(peers);
    for (const node of await beatAndFindDead(command, this.node, this.o.timers.deadAfterMs, peers)) {
      this.o.logger.warn('relay node dead', { node });
      this.peerDied(node);
    }
  }

  /** A node's heartbeat expired: its clients are gone, and daemons it owned pause here. */
  private peerDied(node: string): void {
    // Grace runs here, at the edge: the daemon may reconnect through any node.
    this.links.ownerDied(node);
    this.owned.edgeDied(node);
  }

  /** Renews every owned lease; one that is no longer ours closes its socket at once (self-fence). */
  private async renew(): Promise<void> {
    if (this.redis!.command.status !== 'ready') return; // unreachable ≠ lost: re-asserted once back
    const ttl = this.o.timers.leaseTtlMs;
    for (const owned of await renewLeases(this.scripts!, [...this.owned.values()], ttl)) {
      if (this.owned.get(owned.did) !== owned) continue;
      this.o.metrics.cluster.selfFences++;
      this.o.logger.warn('lease lost; closing the daemon socket', { daemonId: owned.did, epoch: owned.epoch.toString(10) });
      owned.conn.close(4002, 'lease taken by another node');
    }
    const router = this.router!;
    await touchSessions(this.scripts!, this.node, ttl, new Map(router.daemonIdsWithSessions().map((did) => [did, router.sessionIdsOf(did)])));
  }

  /**
   * Back on Redis after losing the command connection: Redis may have restarted empty, so this
   * node writes back what it vouches for before it admits anything again: the SessionIDs it saw
   * used (409 cluster-wide), its session registry entries, its leases and its heartbeat.
   */
  private async resync(): Promise<void> {
    if (this.resynced || this.resyncing || this.closed) return;
    this.resyncing = true;
    const { command } = this.redis!;
    try {
      const now = Date.now();
      let pipeline = command.pipeline();
      let queued = 0;
      for (const [sid, until] of this.router!.usedSidEntries()) {
        if (until <= now) continue;
        pipeline.set(RedisKeys.sid(sid), this.node, 'PX', until - now, 'NX');
        if (++queued % 1000 === 0) {
          await pipeline.exec();
          pipeline = command.pipeline();
        }
      }
      await pipeline.exec();
      await this.renew();
      await this.heartbeat();
      this.resynced = true;
      this.o.logger.info('backplane state written back to Redis', { sids: queued });
    } catch (error) {
      // Still unhealthy; the next heartbeat tries again.
      this.o.logger.warn('backplane resync failed', { error: String(error) });
    } finally {
      this.resyncing = false;
    }
  }

  /** The subscriber connection dropped: whatever was in flight to this node may be lost. */
  private subscriberLost(): void {
    if (this.closed || !this.probe.lost()) return;
    this.o.logger.warn('inbox subscriber disconnected; ending cross-node sessions', {});
    this.endCrossNode('subscriber_lost');
  }

  /** Ends every session that crosses nodes, on both sides (scale-out.md §5). */
  private endCrossNode(reason: CrossNodeEndReason): void {
    this.links.endAll((sid) => this.endSession(sid, reason));
    this.owned.endAllRemote();
  }
}
