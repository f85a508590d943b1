import { FULL_FRAME_LIMITS, STREAM_DEFAULTS, type StreamLimits } from '../protocol/stream/stream-codes.js';
import { NODE_RECEIVE_CREDIT, type ReceiveCreditPolicy } from '../protocol/stream/receive-credit.js';
import type { ChannelLimits } from '../web/channel.js';
import type { ConnectDaemonOptions, DaemonEvents, DaemonStatus } from './daemon-types.js';
import type { IdempotencyOptions } from './idempotency.js';
import type { ChannelRequest, ChannelRoutes } from './route-stream.js';
import type { FetchHandler } from './serve-stream.js';

/** Options, events and the public interface of `listen()` (listen.ts). */

export interface ListenOptions extends Omit<ConnectDaemonOptions, 'identity' | 'onMessage' | 'fetch'> {
  /** The WHATWG handler every HTTP stream goes to (a Hono app's `fetch` works as is). */
  fetch: FetchHandler;
  /**
   * Receive-window growth for a lone busy stream, e.g. an upload (Mux `receiveCredit`,
   * docs/protocol.md §5). Default NODE_RECEIVE_CREDIT (up to 4 MiB); `false` keeps every window
   * at `limits.streamWindow`.
   */
  receiveCredit?: ReceiveCreditPolicy | false;
  /** Channel handlers (terminal I/O and the like); without them every channel gets 404. */
  onChannel?: ChannelRoutes;
  /** The identity seed, or… */
  identity?: { seed: Uint8Array };
  /** …an identity file, created (0600) on first run. Default `~/.sideband/identity.json`, as the CLI. */
  identityPath?: string;
  /** Time a handler has for its response head before the client gets 504 (default 30 s). */
  handlerTimeoutMs?: number;
  /** Origin of `request.url` in handlers (default `http://localhost`); only path and query come from clients. */
  baseUrl?: string;
  /** Inner-protocol limits announced to and enforced on every client (defaults: LISTEN_DEFAULTS.limits). */
  limits?: Partial<StreamLimits>;
  channelLimits?: Partial<ChannelLimits>;
  /** Pause body output while the relay socket buffers this much (default 256 KiB, WRITE_GATE_DEFAULTS). */
  writeHighWaterMark?: number;
  /** Default deadline of `shutdown()` (default 10 s). */
  shutdownTimeoutMs?: number;
  /** Resolve `listen()` only once connected (default true; false resolves after the identity loaded). */
  waitUntilConnected?: boolean;
  /** `fetch` used for control-plane calls (presence tokens). */
  controlPlaneFetch?: typeof fetch;
  /**
   * `Idempotency-Key` deduplication, on by default; `false` turns it off. For a request whose
   * method is not GET, HEAD or OPTIONS and that has the header: a key that is not 1–128 visible
   * ASCII characters gets `400 bad_request`; a key already seen within `ttlMs` (from any
   * session: the service worker replays a request on a new session after it restarted) gets
   * `409 duplicate_request` with `Sideband-Duplicate: 1`; either way the handler is not called.
   * A new key is recorded before the handler runs, so concurrent duplicates run once; the
   * handler still sees the header. Remembers at most `maxKeys` (default 10 000, oldest
   * forgotten first) for `ttlMs` (default 10 min). Responses are not replayed.
   *
   *   listen({ ..., idempotency: { maxKeys: 50_000, ttlMs: 30 * 60_000 } })
   */
  idempotency?: Pick<IdempotencyOptions, 'maxKeys' | 'ttlMs'> | false;
}

export const LISTEN_DEFAULTS = Object.freeze({
  shutdownTimeoutMs: 10_000,
  /**
   * STREAM_DEFAULTS with whole-frame body pieces (FULL_FRAME_LIMITS: the daemon seals with
   * OpenSSL) and a 1 MiB stream window, 2 MiB per session: an upload moves at most a window
   * per round trip through the relay, and 256 KiB capped it near 100 MB/s (issue 9). A
   * handler that stops reading still bounds what each session holds to its session window.
   */
  limits: Object.freeze({ ...STREAM_DEFAULTS, ...FULL_FRAME_LIMITS, streamWindow: 1024 * 1024, sessionWindow: 2 * 1024 * 1024 }),
  receiveCredit: NODE_RECEIVE_CREDIT,
  /**
   * The SBRP inbox delivers one TCP read worth of frames before the multiplexer consumes them
   * (ws emits a read's messages synchronously), and a read of small frames (OPEN, END, CREDIT)
   * can hold over a thousand. Data is bounded by the session window, which a lone upload grows
   * to 5 MiB (receiveCredit); this bounds the count, and the bytes with room to spare.
   */
  inbox: Object.freeze({ maxMessages: 4096, maxBytes: 8 * 1024 * 1024 }),
});

export interface ListenEvents extends DaemonEvents {
  /** A handler failed (a throw, a failed body, a channel handler's rejection); never sent to the client. */
  handler_error: { error: unknown; sessionId: bigint; request?: Request | ChannelRequest };
}

export interface ListenStatus extends DaemonStatus {
  /** Open inner streams across all sessions. */
  streams: number;
  shuttingDown: boolean;
}

export interface Listener {
  /** Known once connected (always, when `listen()` waited). */
  readonly daemonId: string | undefined;
  /** The identity's fingerprint, what users compare when pairing. */
  readonly fingerprint: string;
  readonly status: ListenStatus;
  /**
   * Sends an event to every connected client (EVENT frame). Returns how many sessions it was
   * queued for. Throws StreamError `protocol` for a bad name, `message_too_large` over 32 KiB.
   */
  publish(name: string, data?: unknown): number;
  on<K extends keyof ListenEvents>(type: K, listener: (event: ListenEvents[K]) => void, options?: { signal?: AbortSignal }): () => void;
  /** Resolves once connected to the relay (at once if connected before). */
  ready(): Promise<void>;
  /**
   * Graceful stop: GOAWAY on every session (clients open no new streams), wait for open streams
   * to finish up to `timeoutMs`, then `close()`. Idempotent.
   */
  shutdown(options?: { timeoutMs?: number }): Promise<void>;
  /** Stops at once: every open stream fails (handlers see `request.signal` abort). Idempotent. */
  close(): Promise<void>;
}
