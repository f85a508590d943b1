/** Why a cross-node session was ended by the backplane (closed list: bounded label set). */
export type CrossNodeEndReason = 'gap' | 'publish_error' | 'bad_frame' | 'lost' | 'peer_dead' | 'subscriber_lost' | 'backpressure';
const END_REASONS: readonly CrossNodeEndReason[] = ['gap', 'publish_error', 'bad_frame', 'lost', 'peer_dead', 'subscriber_lost', 'backpressure'];

/** Live cluster gauges computed on demand. */
export interface ClusterGaugeSource {
  redisUp(): boolean;
  subscriberHealthy(): boolean;
  ownedDaemons(): number;
  remoteLinks(): number;
  remoteSessions(): number;
  inflightBytes(): number;
}

/**
 * Counters of the Redis backplane (scale-out.md §9): every kind of loss and takeover has one, so
 * nothing the hop does goes unseen. Rendered by RelayMetrics only when a cluster is running.
 */
export class ClusterMetrics {
  enabled = false;
  readonly frames = { sent: 0, received: 0 };
  readonly bytes = { sent: 0, received: 0 };
  readonly sessionsEnded = new Map<CrossNodeEndReason, number>(END_REASONS.map((r) => [r, 0]));
  publishErrors = 0;
  /** PUBLISH messages to inboxes; fewer than envelopes when they leave batched (publish-batcher.ts). */
  inboxPublishes = 0;
  staleDropped = 0;
  malformedEnvelopes = 0;
  takeovers = 0;
  selfFences = 0;
  subscriberReconnects = 0;
  deafSubscriber = 0;
  private gauges: ClusterGaugeSource | undefined;

  setGaugeSource(source: ClusterGaugeSource): void {
    this.gauges = source;
    this.enabled = true;
  }

  ended(reason: CrossNodeEndReason): void {
    this.sessionsEnded.set(reason, (this.sessionsEnded.get(reason) ?? 0) + 1);
  }

  render(family: (name: string, type: 'counter' | 'gauge', help: string, samples: [string, number][]) => void): void {
    if (!this.enabled) return;
    const g = this.gauges!;
    family('sbrp_relay_cluster_redis_up', 'gauge', 'Whether the command, publish and subscribe connections to Redis are ready.', [['', g.redisUp() ? 1 : 0]]);
    family('sbrp_relay_cluster_subscriber_healthy', 'gauge', 'Whether the inbox subscriber answered its last liveness probe.', [['', g.subscriberHealthy() ? 1 : 0]]);
    family('sbrp_relay_cluster_owned_daemons', 'gauge', 'Daemons whose socket (and lease) this node holds.', [['', g.ownedDaemons()]]);
    family('sbrp_relay_cluster_remote_links', 'gauge', 'Daemons reached through another node for local clients.', [['', g.remoteLinks()]]);
    family('sbrp_relay_cluster_remote_sessions', 'gauge', 'Sessions of owned daemons whose client is on another node.', [['', g.remoteSessions()]]);
    family('sbrp_relay_cluster_inflight_bytes', 'gauge', 'Frame bytes sent over the Redis hop and not yet credited back (or queued for credit).', [['', g.inflightBytes()]]);
    family('sbrp_relay_cluster_frames_total', 'counter', 'Frames over the Redis hop, by direction.', Object.entries(this.frames).map(([d, n]) => [`{direction="${d}"}`, n]));
    family('sbrp_relay_cluster_bytes_total', 'counter', 'Frame bytes over the Redis hop, by direction.', Object.entries(this.bytes).map(([d, n]) => [`{direction="${d}"}`, n]));
    family('sbrp_relay_cluster_sessions_ended_total', 'counter', 'Cross-node sessions ended by the backplane, by reason.',
      [...this.sessionsEnded].map(([r, n]) => [`{reason="${r}"}`, n]));
    family('sbrp_relay_cluster_inbox_publishes_total', 'counter', 'Envelope PUBLISHes to node inboxes, liveness probes aside (a batch of envelopes is one).', [['', this.inboxPublishes]]);
    family('sbrp_relay_cluster_publish_errors_total', 'counter', 'Envelopes not published: publish connection down, or Redis refused or failed the PUBLISH (each envelope of a failed batch counts).', [['', this.publishErrors]]);
    family('sbrp_relay_cluster_stale_dropped_total', 'counter', 'Envelopes dropped for an older lease epoch (fencing).', [['', this.staleDropped]]);
    family('sbrp_relay_cluster_malformed_envelopes_total', 'counter', 'Inbox messages that were not valid envelopes.', [['', this.malformedEnvelopes]]);
    family('sbrp_relay_cluster_takeovers_total', 'counter', 'Daemon leases taken from another holder.', [['', this.takeovers]]);
    family('sbrp_relay_cluster_self_fences_total', 'counter', 'Daemon sockets closed because the lease was lost.', [['', this.selfFences]]);
    family('sbrp_relay_cluster_subscriber_reconnects_total', 'counter', 'Inbox subscriber reconnections.', [['', this.subscriberReconnects]]);
    family('sbrp_relay_cluster_deaf_subscriber_total', 'counter', 'Liveness probes that did not come back in time.', [['', this.deafSubscriber]]);
  }
}
