import type { Aead } from '../protocol/aead.js';
import { DAEMON_ENDPOINT_DEFAULTS } from '../protocol/daemon-endpoint.js';
import type { ReconnectPolicy } from '../protocol/reconnect-policy.js';
import { RELAY_SOCKET_DEFAULTS } from '../node/relay-socket.js';
import { CIRCUIT_BREAKER_DEFAULTS, type CircuitBreakerOptions } from './circuit-breaker.js';
import { INBOX_DEFAULTS, type InboxLimits } from './session-inbox.js';

/** Options, events, status and the public interface of `connectDaemon` (connect-daemon.ts). */

export type DaemonState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

/**
 * Why a session ended: the protocol core's reasons, plus `overflow` (inbound limit passed) and
 * `replays` (the session sent more than `maxReplaysPerSession` replayed Data frames).
 */
export type DaemonSessionCloseReason = 'ended' | 'not_found' | 'error' | 'local' | 'state_lost' | 'overflow' | 'replays';

export type MessageHandler = (sessionId: bigint, data: Uint8Array) => void | Promise<void>;

export interface DaemonEvents {
  /** Connection state changes; `error` says why the previous connection ended or failed. */
  state: { state: DaemonState; error?: Error };
  session_open: { sessionId: bigint };
  session_closed: { sessionId: bigint; reason: DaemonSessionCloseReason; error?: Error };
  /** A replayed Data frame was dropped (sbrp.md §2). */
  replay: { sessionId: bigint; seq: bigint };
  rate_limited: Record<string, never>;
  /** Non-fatal trouble: a failed attempt, a protocol error, a handler that threw. */
  error: { error: Error; sessionId?: bigint };
}

export interface DaemonStatus {
  state: DaemonState;
  daemonId?: string;
  sessions: number;
  /** Epoch ms of the current connection, when connected. */
  connectedSince?: number;
  /** Failed attempts since the last stable connection. */
  attempts: number;
  lastError?: { code?: string; message: string };
  /** Round trip of the last answered Ping. */
  rttMs?: number;
}

export interface ConnectDaemonOptions {
  /** Relay base URL (control plane and WebSocket), e.g. `https://relay.example`. */
  relay: string;
  /** The daemon's API key (from registration). */
  apiKey: string;
  /** The identity seed that signs every HandshakeAccept (see identity.ts). */
  identity: { seed: Uint8Array };
  /** Expected daemon id; a presence token for another daemon is a fatal `invalid_config`. */
  daemonId?: string;
  onMessage?: MessageHandler;
  /** WebSocket endpoint; derived from `relay` by default (`/v1/connect`). */
  wsUrl?: string;
  fetch?: typeof fetch;
  reconnect?: Partial<ReconnectPolicy>;
  circuitBreaker?: Partial<CircuitBreakerOptions>;
  /** Per-session inbound queue to `onMessage` (default 256 messages, 4 MiB). */
  inbox?: Partial<InboxLimits>;
  /** Per-session outbound messages held while the relay is unreachable (default 256, 4 MiB). */
  maxHeldMessages?: number;
  maxHeldBytes?: number;
  /** `send` throws `backpressure` while the socket buffers more than this (default 16 MiB). */
  maxBufferedBytes?: number;
  maxSessions?: number;
  /**
   * Replayed Data frames one session may send before it is ended with Signal(close, policy)
   * (default 8). A few are dropped and reported (sbrp.md §2); a stream of them is abuse, and
   * it costs that session only, never the relay connection.
   */
  maxReplaysPerSession?: number;
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  random?: () => number;
  /** ChaCha20-Poly1305 implementation; OpenSSL through node:crypto by default. */
  aead?: Aead;
  signal?: AbortSignal;
}

export const DAEMON_DEFAULTS = Object.freeze({
  maxHeldMessages: 256,
  maxHeldBytes: 4 * 1024 * 1024,
  maxBufferedBytes: 16 * 1024 * 1024,
  maxSessions: DAEMON_ENDPOINT_DEFAULTS.maxSessions,
  maxReplaysPerSession: 8,
  connectTimeoutMs: RELAY_SOCKET_DEFAULTS.timeoutMs,
  inbox: INBOX_DEFAULTS,
  circuitBreaker: CIRCUIT_BREAKER_DEFAULTS,
});

export interface DaemonConnection {
  readonly state: DaemonState;
  readonly status: DaemonStatus;
  /** Known after the first presence token. */
  readonly daemonId: string | undefined;
  /**
   * Bytes the relay socket holds unsent (0 while disconnected: check `state`). Senders with
   * their own flow control (listen's multiplexers) pause on it instead of hitting `backpressure`.
   */
  readonly bufferedAmount: number;
  /** Calls `listener` each time a frame has been written out (so `bufferedAmount` fell). Returns a remover. */
  onFlush(listener: () => void): () => void;
  /** Installs the message handler (replacing the option); queued messages are delivered to it. */
  onMessage(handler: MessageHandler): void;
  /**
   * Sends one message (≤ 65508 bytes) to a session, whole or as parts in order (sealed without
   * joining them). Held, bounded, while the relay is away; throws SbrpError
   * `session_not_found` or `backpressure`, or ConnectionError `closed`.
   */
  send(sessionId: bigint, data: Uint8Array | readonly Uint8Array[]): void;
  /** Ends a session with Signal(close, reason) (default `none`). */
  closeSession(sessionId: bigint, reason?: number): void;
  sessionIds(): bigint[];
  on<K extends keyof DaemonEvents>(type: K, listener: (event: DaemonEvents[K]) => void, options?: { signal?: AbortSignal }): () => void;
  /** Resolves once connected the first time; rejects if the daemon closes before that. */
  ready(): Promise<void>;
  /** Ends every session with Signal(close, shutdown), closes the socket, stops all timers. Idempotent. */
  close(): Promise<void>;
}
