import { CLIENT_SESSION_DEFAULTS } from '../protocol/client-session.js';
import type { Aead } from '../protocol/aead.js';
import type { HandshakeCrypto } from '../protocol/handshake.js';
import type { SbrpError } from '../protocol/errors.js';
import { RECONNECT_DEFAULTS, type ReconnectPolicy } from '../protocol/reconnect-policy.js';
import type { PinStore } from './pin-store.js';
import type { GetToken } from './session-token-source.js';

/** Options, events and the public interface of `connectClient` (connect-client.ts). */

/**
 *   connecting → handshaking → open ⇄ paused → pending → open
 *        ↑                       │
 *        └──── reconnecting ◄────┘ (session_expired, connection lost, …)     any → closed
 */
export type ClientState = 'connecting' | 'handshaking' | 'open' | 'paused' | 'pending' | 'reconnecting' | 'closed';

export interface ClientEvents {
  state: { state: ClientState; error?: Error };
  /** A session is up; on first contact the key is pinned before this fires. */
  open: { sessionId: bigint; identityPublicKey: Uint8Array; fingerprint: string; firstContact: boolean };
  message: { data: Uint8Array };
  /** The daemon's connection dropped; sends are held (bounded) until it resumes. */
  paused: Record<string, never>;
  pending: Record<string, never>;
  /** Same session, same keys and counters (sbrp.md §4). */
  resumed: Record<string, never>;
  replay: { seq: bigint };
  rate_limited: Record<string, never>;
  /** A session or attempt ended; `retryInMs` is absent when the client gives up. */
  disconnected: { error: Error; retryInMs?: number };
  closed: { error?: Error };
}

export interface ConnectClientOptions {
  /** Relay base URL, e.g. `https://relay.example`. */
  relay: string;
  daemonId: string;
  /** Called before every attempt: a fresh token with a fresh `sid` (sbrp.md §5). */
  getToken: GetToken;
  pinStore: PinStore;
  onMessage?: (data: Uint8Array) => void;
  /** WebSocket endpoint; derived from `relay` by default. */
  wsUrl?: string;
  /** From WebSocket open to HandshakeAccept (default 30 s, sbrp.md §2). */
  handshakeTimeoutMs?: number;
  /** Ping cadence (default 25 s, sbrp.md §4). */
  pingIntervalMs?: number;
  pongTimeoutMs?: number;
  reconnect?: Partial<ReconnectPolicy>;
  /** Messages held while paused (defaults of ClientSession: 1024 messages, 4 MiB). */
  maxHeldMessages?: number;
  maxHeldBytes?: number;
  /** `send` throws `backpressure` while the socket buffers more than this (default 16 MiB). */
  maxBufferedBytes?: number;
  connectTimeoutMs?: number;
  random?: () => number;
  /** X25519/Ed25519 for the handshake (default: noble; the Node client passes node:crypto). */
  handshake?: HandshakeCrypto;
  /** ChaCha20-Poly1305 implementation (default: noble; the Node client passes OpenSSL). */
  aead?: Aead;
  signal?: AbortSignal;
}

export const CLIENT_DEFAULTS = Object.freeze({
  handshakeTimeoutMs: RECONNECT_DEFAULTS.handshakeTimeoutMs,
  pingIntervalMs: RECONNECT_DEFAULTS.clientPingIntervalMs,
  pongTimeoutMs: RECONNECT_DEFAULTS.pongTimeoutMs,
  maxBufferedBytes: 16 * 1024 * 1024,
  ...CLIENT_SESSION_DEFAULTS,
});

export interface RelayClient {
  readonly state: ClientState;
  /** The current session's id, when one is up. */
  readonly sessionId: bigint | undefined;
  /** Why the client closed, or why the last attempt failed. */
  readonly error: Error | undefined;
  /**
   * Bytes the relay socket holds unsent (0 between sessions). Senders with their own flow
   * control (connect()'s multiplexer) pause on it instead of hitting `backpressure`.
   */
  readonly bufferedAmount: number;
  /** Calls `listener` each time a frame has been written out (so `bufferedAmount` fell). Returns a remover. */
  onFlush(listener: () => void): () => void;
  /**
   * Sends one message (≤ 65508 bytes). Held while paused; throws ConnectionError
   * `not_connected` between sessions and SbrpError `backpressure` over a limit.
   */
  send(data: Uint8Array | readonly Uint8Array[]): void;
  /** Adds a message listener; returns its remover. */
  onMessage(listener: (data: Uint8Array) => void): () => void;
  on<K extends keyof ClientEvents>(type: K, listener: (event: ClientEvents[K]) => void, options?: { signal?: AbortSignal }): () => void;
  /** Resolves when a session is open (at once if it is); rejects if the client closes first. */
  ready(): Promise<void>;
  /**
   * Ends the current session (not the client) with `error`: a layer above found it unusable
   * (its inner protocol failed). The client reconnects with a new session as after a drop,
   * unless the code is one that must not be retried. No-op between sessions.
   */
  endSession(error: SbrpError): void;
  /** Skips a backoff wait in progress (the network came back). No-op otherwise. */
  wake(): void;
  /** Closes the socket and stops every timer. Idempotent. */
  close(): Promise<void>;
}
