import { homedir } from 'node:os';
import { join } from 'node:path';
import { SignalReason } from '../protocol/codes.js';
import type { Plaintext } from '../protocol/aead.js';
import { encodeEvent } from '../protocol/stream/heads.js';
import { Mux } from '../protocol/stream/mux.js';
import type { StreamLimits } from '../protocol/stream/stream-codes.js';
import { StreamError } from '../protocol/stream/stream-error.js';
import { Emitter } from '../web/emitter.js';
import { ConfigError, errorCode } from '../web/errors.js';
import { WriteGate } from '../web/write-gate.js';
import { connectDaemon } from './connect-daemon.js';
import type { DaemonConnection, DaemonEvents } from './daemon-types.js';
import { IdempotencyKeys, withIdempotency } from './idempotency.js';
import { identityFromSeed, loadOrCreateIdentity } from './identity.js';
import { LISTEN_DEFAULTS, type ListenEvents, type ListenOptions, type ListenStatus, type Listener } from './listen-types.js';
import { routeStream } from './route-stream.js';
import type { FetchHandler } from './serve-stream.js';

/** Where the daemon CLI keeps its identity too, so a library daemon and the CLI share one. */
const DEFAULT_IDENTITY_PATH = join(homedir(), '.sideband', 'identity.json');

/**
 * Serves a WHATWG fetch handler (and optional channel handlers) to every browser or Node
 * client that opens a session to this daemon through the relay (design.md). One relay
 * connection carries all sessions; each session runs its own inner multiplexer (role daemon).
 *
 * Resolves once connected (unless `waitUntilConnected: false`). Transient failures (relay
 * unreachable, a refused token) are retried with backoff meanwhile, as `connectDaemon` does;
 * pass `signal` to give up. A fatal one (`invalid_config`, `forbidden`, …) rejects.
 *
 * A non-idempotent request (not GET, HEAD or OPTIONS) with an `Idempotency-Key` header runs at
 * most once: a second delivery of the same key within the TTL, from any session, gets
 * `409 duplicate_request` without reaching the handler (option `idempotency`, idempotency.ts).
 *
 *   const app = new Hono().get('/api/hello', (c) => c.json({ hello: 'world' }));
 *   const server = await listen({ relay: 'https://relay.example', apiKey, fetch: app.fetch });
 *   server.publish('build', { ok: true });
 *   await server.shutdown();
 */
export async function listen(options: ListenOptions): Promise<Listener> {
  if (typeof options.fetch !== 'function') throw new ConfigError('listen() needs a fetch handler');
  const handler = servedHandler(options); // throws on a bad `idempotency` before any file or socket
  const seed = options.identity?.seed ?? (await loadOrCreateIdentity(options.identityPath ?? DEFAULT_IDENTITY_PATH)).identity.seed;
  const listener = new SessionListener(options, seed, handler);
  if (options.waitUntilConnected ?? true) {
    try {
      await listener.ready();
    } catch (error) {
      await listener.close();
      throw error;
    }
  }
  return listener;
}

/**
 * `options.fetch`, behind Idempotency-Key deduplication unless `idempotency: false`. One memory
 * for the whole listener, not one per session: a replay after a service-worker restart arrives
 * on the new worker's new session (idempotency.ts explains the scope).
 */
function servedHandler(options: ListenOptions): FetchHandler {
  const { idempotency } = options;
  if (idempotency === false) return options.fetch;
  return withIdempotency(options.fetch, new IdempotencyKeys({ maxKeys: idempotency?.maxKeys, ttlMs: idempotency?.ttlMs }));
}

interface LiveSession {
  mux: Mux;
  failed: boolean;
}

/** Forwarded as is from the relay connection to `Listener.on`. */
const FORWARDED: readonly (keyof DaemonEvents)[] = ['state', 'session_open', 'session_closed', 'replay', 'rate_limited', 'error'];

class SessionListener implements Listener {
  readonly fingerprint: string;
  private readonly events = new Emitter<ListenEvents>();
  private readonly connection: DaemonConnection;
  private readonly sessions = new Map<bigint, LiveSession>();
  private readonly gate: WriteGate;
  private readonly limits: StreamLimits;
  private shuttingDown = false;
  private closing?: Promise<void>;
  private stopping?: Promise<void>;
  /** Which session the next drain starts with, so one busy session cannot starve the rest. */
  private drainOffset = 0;

  constructor(
    private readonly options: ListenOptions,
    seed: Uint8Array,
    /** What HTTP streams are served with (servedHandler). */
    private readonly handler: FetchHandler,
  ) {
    this.limits = { ...LISTEN_DEFAULTS.limits, ...options.limits };
    this.fingerprint = identityFromSeed(seed).fingerprint;
    const { controlPlaneFetch, inbox, ...rest } = options;
    this.connection = connectDaemon({
      ...rest,
      identity: { seed },
      fetch: controlPlaneFetch,
      inbox: { ...LISTEN_DEFAULTS.inbox, ...inbox },
      onMessage: (sessionId, data) => this.sessions.get(sessionId)?.mux.receive(data),
    });
    const conn = this.connection;
    this.gate = new WriteGate({
      bufferedAmount: () => conn.bufferedAmount,
      onFlush: (listener) => conn.onFlush(listener),
      canWrite: () => conn.state === 'connected',
      highWaterMark: options.writeHighWaterMark,
      onDrain: () => this.pumpAll(),
    });
    const forward = <K extends keyof DaemonEvents>(type: K) => conn.on(type, (event) => this.events.emit(type, event as ListenEvents[K]));
    for (const type of FORWARDED) forward(type);
    conn.on('session_open', ({ sessionId }) => this.openSession(sessionId));
    conn.on('session_closed', ({ sessionId, reason }) => this.endSession(sessionId, new StreamError('session_closed', `session ended (${reason})`)));
    let wasConnected = false;
    conn.on('state', ({ state }) => {
      if (state !== 'connected') return;
      // After a reconnect, resumed sessions keep their counters, but frames that were in the
      // dead socket are gone: probe every session at once, so the client sees the sequence
      // gap now (and ends the session loudly) instead of both ends waiting for credit forever.
      if (wasConnected) for (const { mux } of this.sessions.values()) mux.ping().catch(() => {});
      wasConnected = true;
      this.gate.kick(); // send what waited
    });
  }

  get daemonId(): string | undefined {
    return this.connection.daemonId;
  }

  get status(): ListenStatus {
    let streams = 0;
    for (const { mux } of this.sessions.values()) streams += mux.streamCount;
    return { ...this.connection.status, streams, shuttingDown: this.shuttingDown };
  }

  on<K extends keyof ListenEvents>(type: K, listener: (event: ListenEvents[K]) => void, options?: { signal?: AbortSignal }): () => void {
    return this.events.on(type, listener, options);
  }

  ready(): Promise<void> {
    return this.connection.ready();
  }

  publish(name: string, data?: unknown): number {
    // Checked once here, so a bad event throws even with no session connected.
    const size = encodeEvent({ name, data }).length;
    if (size > this.limits.maxEventBytes) throw new StreamError('message_too_large', `event of ${size} bytes exceeds ${this.limits.maxEventBytes}`);
    let count = 0;
    for (const { mux } of this.sessions.values()) {
      if (mux.closed) continue;
      mux.publishEvent(name, data);
      count++;
    }
    return count;
  }

  shutdown(options: { timeoutMs?: number } = {}): Promise<void> {
    this.stopping ??= this.drainAndClose(options.timeoutMs ?? this.options.shutdownTimeoutMs ?? LISTEN_DEFAULTS.shutdownTimeoutMs);
    return this.stopping;
  }

  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async drainAndClose(timeoutMs: number): Promise<void> {
    this.shuttingDown = true;
    for (const { mux } of this.sessions.values()) mux.shutdown();
    const deadline = Date.now() + timeoutMs;
    while (this.status.streams > 0 && Date.now() < deadline && !this.closing) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await this.close();
  }

  private async closeNow(): Promise<void> {
    this.shuttingDown = true;
    this.gate.close();
    // Closing the connection ends every session (Signal close, shutdown); session_closed then
    // fails each multiplexer, which aborts every handler's request.signal.
    await this.connection.close();
    for (const sessionId of [...this.sessions.keys()]) this.endSession(sessionId, new StreamError('session_closed', 'daemon closed'));
    this.events.removeAll();
  }

  private openSession(sessionId: bigint): void {
    const entry: LiveSession = { failed: false, mux: undefined as unknown as Mux };
    entry.mux = new Mux({
      role: 'daemon',
      limits: this.limits,
      receiveCredit: this.options.receiveCredit === false ? undefined : (this.options.receiveCredit ?? LISTEN_DEFAULTS.receiveCredit),
      send: (frame) => this.send(sessionId, entry, frame),
      sendParts: (parts) => this.send(sessionId, entry, parts), // sealed unjoined (Plaintext)
      isWritable: () => this.gate.isWritable(),
      // Frames go out once per event-loop turn, after the handlers' microtasks: what a handler
      // queues in one go (head, a small body, end) leaves as one frame (docs/protocol.md §3).
      defer: setImmediate,
      onStream: (stream) =>
        routeStream(stream, {
          fetch: this.handler,
          onChannel: this.options.onChannel,
          channelLimits: this.options.channelLimits,
          serve: {
            baseUrl: this.options.baseUrl,
            handlerTimeoutMs: this.options.handlerTimeoutMs,
            onError: (error, request) => this.events.emit('handler_error', { error, sessionId, request }),
          },
          onChannelError: (error, request) => this.events.emit('handler_error', { error, sessionId, request }),
        }),
      onClose: () => {
        // The inner session is over on its own (a peer protocol error, ERROR from the peer, a
        // failed send): the SBRP session cannot carry a second one, so end it too. Sessions
        // the relay ended are already out of the map (endSession).
        if (this.sessions.get(sessionId) !== entry) return;
        this.sessions.delete(sessionId);
        this.connection.closeSession(sessionId, SignalReason.error);
      },
    });
    this.sessions.set(sessionId, entry);
    entry.mux.start();
    if (this.shuttingDown) entry.mux.shutdown();
  }

  private endSession(sessionId: bigint, error: StreamError): void {
    const entry = this.sessions.get(sessionId);
    if (!entry) return;
    this.sessions.delete(sessionId);
    entry.mux.close(error);
  }

  private send(sessionId: bigint, entry: LiveSession, frame: Plaintext): void {
    if (entry.failed) return;
    try {
      this.connection.send(sessionId, frame);
    } catch (error) {
      // Over the offline outbox or the socket bound: a frame is lost, so the inner session can
      // no longer be trusted. Fail it outside the multiplexer's own call stack.
      entry.failed = true;
      const code = errorCode(error) ?? 'internal';
      queueMicrotask(() => entry.mux.close(new StreamError('session_closed', `relay send failed: ${code}`)));
    }
  }

  private pumpAll(): void {
    const all = [...this.sessions.values()];
    if (all.length === 0) return;
    this.drainOffset = (this.drainOffset + 1) % all.length;
    for (let i = 0; i < all.length; i++) all[(this.drainOffset + i) % all.length]!.mux.pump();
  }
}
