import type { ControlName } from '../protocol/codes.js';
import { ClusterMetrics } from './cluster/cluster-metrics.js';
import type { TokenRejectReason } from './token-verifier.js';

export type Direction = 'client_to_daemon' | 'daemon_to_client';
export type SessionStateName = 'active' | 'paused' | 'pending';
/** Why a session ended: its client left (or was closed by the relay), or it expired (sbrp.md §4). */
export type SessionCloseReason = 'client_left' | 'expired';

/** Live gauges the router computes on demand (no counter can drift from the real state). */
export interface GaugeSource {
  connections(): { client: number; daemon: number };
  sessions(): Record<SessionStateName, number>;
}

/**
 * Counters of the relay, rendered in the Prometheus text format. Every label set is a closed
 * list (roles, states, Control names, reject reasons, HTTP statuses), so the maps stay bounded.
 */
export class RelayMetrics {
  readonly framesForwarded: Record<Direction, number> = { client_to_daemon: 0, daemon_to_client: 0 };
  readonly bytesForwarded: Record<Direction, number> = { client_to_daemon: 0, daemon_to_client: 0 };
  readonly sessionsClosed: Record<SessionCloseReason, number> = { client_left: 0, expired: 0 };
  readonly controlSent = new Map<ControlName, number>();
  readonly tokensRejected = new Map<TokenRejectReason, number>();
  readonly upgradesRejected = new Map<number, number>();
  connectionsAccepted = 0;
  /** Redis backplane counters; rendered only when a cluster runs. */
  readonly cluster = new ClusterMetrics();
  private gauges: GaugeSource | undefined;

  setGaugeSource(source: GaugeSource): void {
    this.gauges = source;
  }

  forwarded(direction: Direction, bytes: number): void {
    this.framesForwarded[direction] += 1;
    this.bytesForwarded[direction] += bytes;
  }

  sessionClosed(reason: SessionCloseReason): void {
    this.sessionsClosed[reason] += 1;
  }

  control(name: ControlName): void {
    this.controlSent.set(name, (this.controlSent.get(name) ?? 0) + 1);
  }

  tokenRejected(reason: TokenRejectReason): void {
    this.tokensRejected.set(reason, (this.tokensRejected.get(reason) ?? 0) + 1);
  }

  upgradeRejected(status: number): void {
    this.upgradesRejected.set(status, (this.upgradesRejected.get(status) ?? 0) + 1);
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const out: string[] = [];
    const family = (name: string, type: 'counter' | 'gauge', help: string, samples: [string, number][]): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) out.push(`${name}${labels} ${value}`);
    };
    const connections = this.gauges?.connections() ?? { client: 0, daemon: 0 };
    const sessions = this.gauges?.sessions() ?? { active: 0, paused: 0, pending: 0 };
    family('sbrp_relay_connections', 'gauge', 'Open WebSocket connections by role.',
      Object.entries(connections).map(([role, n]) => [`{role="${role}"}`, n]));
    family('sbrp_relay_sessions', 'gauge', 'Client sessions by state.',
      Object.entries(sessions).map(([state, n]) => [`{state="${state}"}`, n]));
    family('sbrp_relay_connections_accepted_total', 'counter', 'WebSocket upgrades accepted.', [['', this.connectionsAccepted]]);
    family('sbrp_relay_frames_forwarded_total', 'counter', 'Frames routed between client and daemon.',
      Object.entries(this.framesForwarded).map(([d, n]) => [`{direction="${d}"}`, n]));
    family('sbrp_relay_bytes_forwarded_total', 'counter', 'Bytes (whole frames) routed between client and daemon.',
      Object.entries(this.bytesForwarded).map(([d, n]) => [`{direction="${d}"}`, n]));
    family('sbrp_relay_sessions_closed_total', 'counter', 'Client sessions ended, by reason (client_left includes clients the relay closed).',
      Object.entries(this.sessionsClosed).map(([r, n]) => [`{reason="${r}"}`, n]));
    family('sbrp_relay_control_sent_total', 'counter', 'Control frames sent, by code name.',
      [...this.controlSent].map(([code, n]) => [`{code="${code}"}`, n]));
    family('sbrp_relay_tokens_rejected_total', 'counter', 'Tokens rejected at the upgrade, by reason.',
      [...this.tokensRejected].map(([reason, n]) => [`{reason="${reason}"}`, n]));
    family('sbrp_relay_upgrades_rejected_total', 'counter', 'WebSocket upgrades answered with an HTTP error, by status.',
      [...this.upgradesRejected].map(([status, n]) => [`{status="${status}"}`, n]));
    this.cluster.render(family);
    return `${out.join('\n')}\n`;
  }
}
