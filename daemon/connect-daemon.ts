import type WebSocket from 'ws';
import { DaemonEndpoint, type DaemonEndpointEvent } from '../protocol/daemon-endpoint.js';
import { FrameType, SignalCode, SignalReason } from '../protocol/codes.js';
import type { Plaintext } from '../protocol/aead.js';
import { SbrpError } from '../protocol/errors.js';
import { signalFrame } from '../protocol/frames.js';
import { RECONNECT_DEFAULTS, ReconnectBackoff, shouldRetry, type ReconnectPolicy } from '../protocol/reconnect-policy.js';
import { nodeAead } from '../node/aead-node.js';
import { nodeHandshakeCrypto } from '../node/handshake-node.js';
import { ControlPlaneClient, type PresenceToken } from '../node/control-plane-client.js';
import { Emitter } from '../web/emitter.js';
import { ConfigError, ConnectionError, errorCode } from '../web/errors.js';
import { Heartbeat } from '../web/heartbeat.js';
import { tokenScopes } from '../web/jwt-claims.js';
import { batchedSender, closeSocket, messageBytes, openRelaySocket } from '../node/relay-socket.js';
import { closeOnAbort } from '../web/close-on-abort.js';
import { relayWebSocketUrl } from '../web/relay-url.js';
import { sleep } from '../web/sleep.js';
import { CircuitBreaker, CIRCUIT_BREAKER_DEFAULTS } from './circuit-breaker.js';
import {
  DAEMON_DEFAULTS, type ConnectDaemonOptions, type DaemonConnection, type DaemonEvents, type DaemonState, type DaemonStatus, type MessageHandler,
} from './daemon-types.js';
import { OfflineOutbox } from './offline-outbox.js';
import { INBOX_DEFAULTS, SessionInbox, type InboxLimits } from './session-inbox.js';

/**
 * Connects a daemon to its relay: one WebSocket carrying every session (sbrp.md §4), a fresh
 * presence token before every attempt, backoff with jitter, Ping liveness, a circuit breaker on
 * protocol errors, and bounded per-session queues. Returns at once; connection happens in the
 * background.
 *
 *   const { identity } = await loadOrCreateIdentity(path);
 *   const daemon = connectDaemon({ relay, apiKey, identity, onMessage: (sid, data) => daemon.send(sid, data) });
 *   await daemon.ready();
 */
export function connectDaemon(options: ConnectDaemonOptions): DaemonConnection {
  return new RelayDaemon(options);
}

class RelayDaemon implements DaemonConnection {
  private readonly events = new Emitter<DaemonEvents>();
  private readonly controlPlane: ControlPlaneClient;
  private readonly wsUrl: string;
  private readonly policy: ReconnectPolicy;
  private readonly backoff: ReconnectBackoff;
  private readonly breaker: CircuitBreaker;
  private readonly inboxLimits: InboxLimits;
  private readonly abort = new AbortController();
  private readonly inboxes = new Map<bigint, SessionInbox>();
  private readonly outbox: OfflineOutbox;
  /** Sessions this daemon ended on its own, with the reason `session_closed` will report. */
  private readonly endedFor = new Map<bigint, 'overflow' | 'replays'>();
  /** Replayed Data frames per live session (maxReplaysPerSession). */
  private readonly replays = new Map<bigint, number>();
  /** Type of the frame being handled, to tell relay faults from session faults (protocolError). */
  private frameType = -1;
  private readonly flushListeners = new Set<() => void>();
  /** ws calls this once a frame left for the kernel: `bufferedAmount` just fell (see onFlush). */
  private readonly flushed = (): void => {
    for (const listener of this.flushListeners) listener();
  };
  private endpoint?: DaemonEndpoint;
  private ws?: WebSocket;
  /** `ws.send` with the socket writes of one event-loop turn batched (node/relay-socket.ts). */
  private sendBatched?: (frame: Uint8Array) => void;
  private heartbeat?: Heartbeat;
  private endConnection?: (error: Error) => void;
  private handler?: MessageHandler;
  private id?: string;
  private stateValue: DaemonState = 'connecting';
  private connectedSince?: number;
  private everConnected = false;
  private lastError?: Error;
  private closing?: Promise<void>;
  private readonly readyPromise: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (error: Error) => void;
  private readonly loop: Promise<void>;

  constructor(private readonly options: ConnectDaemonOptions) {
    if (!options.apiKey) throw new ConfigError('apiKey is required');
    if (options.identity?.seed?.length !== 32) throw new ConfigError('identity.seed must be 32 bytes');
    this.controlPlane = new ControlPlaneClient({ baseUrl: options.relay, fetch: options.fetch, timeoutMs: options.requestTimeoutMs });
    this.wsUrl = options.wsUrl ?? relayWebSocketUrl(options.relay);
    this.policy = { ...RECONNECT_DEFAULTS, ...options.reconnect };
    this.backoff = new ReconnectBackoff(this.policy, options.random);
    this.breaker = new CircuitBreaker(options.circuitBreaker);
    this.inboxLimits = { ...INBOX_DEFAULTS, ...options.inbox };
    this.outbox = new OfflineOutbox({
      maxMessages: options.maxHeldMessages ?? DAEMON_DEFAULTS.maxHeldMessages,
      maxBytes: options.maxHeldBytes ?? DAEMON_DEFAULTS.maxHeldBytes,
    });
    this.handler = options.onMessage;
    this.id = options.daemonId;
    this.readyPromise = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.readyPromise.catch(() => {}); // observed through ready()
    closeOnAbort(options.signal, () => void this.close(), this.abort.signal);
    this.loop = this.run();
  }

  get state(): DaemonState {
    return this.stateValue;
  }

  get daemonId(): string | undefined {
    return this.id;
  }

  get bufferedAmount(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  onFlush(listener: () => void): () => void {
    this.flushListeners.add(listener);
    return () => this.flushListeners.delete(listener);
  }

  get status(): DaemonStatus {
    return {
      state: this.stateValue,
      daemonId: this.id,
      sessions: this.endpoint?.sessionCount ?? 0,
      connectedSince: this.connectedSince,
      attempts: this.backoff.attempts,
      lastError: this.lastError && { code: errorCode(this.lastError), message: this.lastError.message },
      rttMs: this.heartbeat?.rttMs,
    };
  }

  on<K extends keyof DaemonEvents>(type: K, listener: (event: DaemonEvents[K]) => void, options?: { signal?: AbortSignal }): () => void {
    return this.events.on(type, listener, options);
  }

  ready(): Promise<void> {
    return this.readyPromise;
  }

  onMessage(handler: MessageHandler): void {
    this.handler = handler;
    for (const inbox of this.inboxes.values()) inbox.kick();
  }

  sessionIds(): bigint[] {
    return this.endpoint?.sessionIds() ?? [];
  }

  send(sessionId: bigint, data: Plaintext): void {
    if (this.closing) throw new ConnectionError('closed', 'daemon is closed');
    const endpoint = this.endpoint;
    if (!endpoint?.session(sessionId)) throw new SbrpError('session_not_found', `no session ${sessionId}`, sessionId);
    const ws = this.ws;
    if (!ws) {
      this.outbox.hold(sessionId, data); // sealed after the resumed reconnect (offline-outbox.ts)
      return;
    }
    if (ws.bufferedAmount > (this.options.maxBufferedBytes ?? DAEMON_DEFAULTS.maxBufferedBytes)) {
      throw new SbrpError('backpressure', `relay socket buffers ${ws.bufferedAmount} bytes`, sessionId);
    }
    endpoint.sendMessage(sessionId, data);
  }

  closeSession(sessionId: bigint, reason: number = SignalReason.none): void {
    const endpoint = this.endpoint;
    if (!endpoint?.session(sessionId)) return;
    if (!this.ws) this.outbox.closedOffline(sessionId, reason);
    endpoint.closeSession(sessionId, reason);
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const ws = this.ws;
    const endpoint = this.endpoint;
    if (ws && endpoint) {
      // Tell each client now rather than leaving it paused for the grace period (sbrp.md §1 `shutdown`).
      for (const sessionId of endpoint.sessionIds()) endpoint.closeSession(sessionId, SignalReason.shutdown);
    }
    this.abort.abort();
    if (ws) await closeSocket(ws);
    this.endConnection?.(new ConnectionError('closed', 'daemon closed'));
    await this.loop;
    endpoint?.destroyAll();
    for (const inbox of this.inboxes.values()) inbox.close();
    this.inboxes.clear();
    this.outbox.clear();
    this.rejectReady(new ConnectionError('closed', 'daemon closed before it connected'));
    this.setState('closed');
    this.events.removeAll();
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      const error = await this.connectOnce(signal);
      if (signal.aborted) return;
      this.lastError = error;
      if (!shouldRetry(errorCode(error))) {
        this.rejectReady(error);
        this.setState('closed', error);
        void this.close();
        return;
      }
      // Two processes with one identity would replace each other forever: the one replaced
      // waits the longest backoff instead of taking the connection straight back.
      const delay = errorCode(error) === 'daemon_replaced' ? this.policy.maxDelayMs : this.backoff.delay();
      this.setState('reconnecting', error);
      await sleep(delay, signal);
    }
  }

  /** One attempt: token, socket, then serve until it ends. Resolves with why it ended. */
  private async connectOnce(signal: AbortSignal): Promise<Error> {
    const resume = this.everConnected;
    let presence: PresenceToken;
    let ws: WebSocket;
    try {
      // A fresh presence token before every attempt (sbrp.md §5). A fresh process asks for no
      // `session:resume`: it holds no session state, so the relay must expire the old sessions.
      presence = await this.controlPlane.presenceToken(this.options.apiKey, { resume }, signal);
      if (this.id !== undefined && presence.daemonId !== this.id) {
        return new ConfigError(`API key belongs to daemon ${presence.daemonId}, expected ${this.id}`);
      }
      this.id = presence.daemonId;
      ws = await openRelaySocket(this.wsUrl, presence.token, { signal, timeoutMs: this.options.connectTimeoutMs });
    } catch (error) {
      if (!signal.aborted) this.events.emit('error', { error: error as Error });
      return error as Error;
    }
    const endpoint = this.ensureEndpoint(presence.daemonId);
    return new Promise<Error>((resolve) => {
      let ended = false;
      const heartbeat = new Heartbeat({
        intervalMs: this.policy.daemonPingIntervalMs,
        timeoutMs: this.policy.pongTimeoutMs,
        send: (frame) => this.wsSend(ws, frame),
        onDead: () => end(new ConnectionError('relay_silent', `no Pong within ${this.policy.pongTimeoutMs} ms`)),
      });
      const end = (error: Error): void => {
        if (ended) return;
        ended = true;
        heartbeat.stop();
        ws.removeAllListeners('message');
        if (ws.readyState !== ws.CLOSED) ws.terminate();
        if (this.ws === ws) {
          this.ws = undefined;
          this.sendBatched = undefined;
          this.heartbeat = undefined;
          this.endConnection = undefined;
          this.connectedSince = undefined;
          endpoint.setSend(() => {}); // nothing reaches a dead socket; Data is held in send()
        }
        resolve(error);
      };
      ws.on('message', (data, isBinary) => {
        if (!isBinary) {
          this.protocolError(new SbrpError('malformed_frame', 'text message on the relay socket (sbrp.md §1)'));
          return;
        }
        const bytes = messageBytes(data);
        this.frameType = bytes[0] ?? -1;
        endpoint.receive(bytes);
        this.frameType = -1;
      });
      ws.on('error', (error) => this.events.emit('error', { error }));
      // 4002: the relay let a newer connection with this identity take over (relay/README.md).
      ws.once('close', (code) =>
        end(code === 4002 ? new ConnectionError('daemon_replaced', 'another connection with this daemon identity took over (relay close 4002)') : new ConnectionError('connection_lost', 'relay connection closed')),
      );
      if (signal.aborted) return end(new ConnectionError('closed', 'daemon closed'));

      this.ws = ws;
      this.sendBatched = batchedSender(ws, this.flushed);
      this.heartbeat = heartbeat;
      this.endConnection = end;
      endpoint.setSend((frame) => this.wsSend(ws, frame));
      // Resume only when this process held sessions on an earlier connection and the relay
      // granted the scope; otherwise the relay has expired them already (sbrp.md §4).
      const resumed = resume && tokenScopes(presence.token).includes('session:resume');
      endpoint.reconnected(resumed);
      this.flushOffline(ws, resumed);
      heartbeat.start();
      this.everConnected = true;
      this.connectedSince = Date.now();
      this.backoff.connected();
      this.breaker.reset();
      ws.resume(); // everything is wired: let frames in (openRelaySocket returns it paused)
      this.setState('connected');
      this.resolveReady();
    });
  }

  private ensureEndpoint(daemonId: string): DaemonEndpoint {
    this.endpoint ??= new DaemonEndpoint({
      daemonId,
      identitySeed: this.options.identity.seed,
      maxSessions: this.options.maxSessions,
      aead: this.options.aead ?? nodeAead,
      handshake: nodeHandshakeCrypto,
      send: () => {},
      onEvent: (event) => this.onEndpointEvent(event),
    });
    return this.endpoint;
  }

  private onEndpointEvent(event: DaemonEndpointEvent): void {
    switch (event.type) {
      case 'session_open': {
        const inbox = new SessionInbox(
          this.inboxLimits,
          () => this.handler && ((data: Uint8Array) => this.handler!(event.sessionId, data)),
          (error) => this.events.emit('error', { error: error as Error, sessionId: event.sessionId }),
        );
        this.inboxes.set(event.sessionId, inbox);
        this.events.emit('session_open', { sessionId: event.sessionId });
        return;
      }
      case 'message':
        if (!this.inboxes.get(event.sessionId)?.push(event.data)) {
          // Over the per-session bound: end this session, never buffer without limit (style.md §7).
          this.endSessionFor(event.sessionId, 'overflow');
        }
        return;
      case 'session_closed': {
        const endedFor = this.endedFor.get(event.sessionId);
        this.endedFor.delete(event.sessionId);
        this.replays.delete(event.sessionId);
        this.inboxes.get(event.sessionId)?.close();
        this.inboxes.delete(event.sessionId);
        this.outbox.forget(event.sessionId);
        const reason = endedFor ?? event.reason;
        this.events.emit('session_closed', event.error ? { sessionId: event.sessionId, reason, error: event.error } : { sessionId: event.sessionId, reason });
        return;
      }
      case 'replay': {
        this.events.emit('replay', { sessionId: event.sessionId, seq: event.seq });
        // A replay is dropped harmlessly, but a session that keeps replaying is abusing the
        // daemon's CPU: it, not the relay connection, pays (hardening: one client, one session).
        const count = (this.replays.get(event.sessionId) ?? 0) + 1;
        this.replays.set(event.sessionId, count);
        if (count > (this.options.maxReplaysPerSession ?? DAEMON_DEFAULTS.maxReplaysPerSession)) this.endSessionFor(event.sessionId, 'replays');
        return;
      }
      case 'rate_limited':
        this.events.emit('rate_limited', {});
        return;
      case 'pong':
        this.heartbeat?.pong();
        return;
      case 'protocol_error':
        this.protocolError(event.error);
        return;
      case 'connection_error':
        this.endConnection?.(event.error);
        return;
    }
  }

  private endSessionFor(sessionId: bigint, reason: 'overflow' | 'replays'): void {
    this.endedFor.set(sessionId, reason);
    this.closeSession(sessionId, SignalReason.policy);
  }

  /**
   * A frame the endpoint could not use. Only relay faults feed the circuit breaker: frames no
   * honest relay forwards (a bad header, a misused Control, a type or SessionID the relay must
   * refuse). HandshakeInit and Data carry a client's bytes, which the relay does not parse
   * (sbrp.md §1: their lengths are checked at the endpoints), so their failures belong to that
   * one session: a live session was already ended with Signal(close, error) by the endpoint;
   * Data for a session that is gone is in-flight traffic an honest relay forwards before it
   * sees our Signal(close); and a malformed HandshakeInit gets Signal(close, error) here. None
   * of them may cost the other sessions their relay connection.
   */
  private protocolError(error: SbrpError): void {
    this.events.emit('error', { error, ...(error.sessionId !== 0n ? { sessionId: error.sessionId } : {}) });
    const type = this.frameType;
    if (error.sessionId !== 0n && (type === FrameType.HandshakeInit || type === FrameType.Data)) {
      if (type === FrameType.HandshakeInit && error.code === 'malformed_frame' && !this.endpoint?.session(error.sessionId) && this.ws) {
        this.wsSend(this.ws, signalFrame(error.sessionId, SignalCode.close, SignalReason.error));
      }
      return;
    }
    if (!this.breaker.record()) return;
    const breaker = { ...CIRCUIT_BREAKER_DEFAULTS, ...this.options.circuitBreaker };
    this.backoff.unstable();
    this.endConnection?.(new ConnectionError('circuit_open', `${breaker.maxErrors} protocol errors within ${breaker.windowMs} ms`));
  }

  private wsSend(ws: WebSocket, frame: Uint8Array): void {
    if (ws !== this.ws || !this.sendBatched) {
      if (ws.readyState === ws.OPEN) ws.send(frame, this.flushed);
      return;
    }
    this.sendBatched(frame);
  }

  /** After a reconnect: pending Signal(close) of sessions closed offline, then held messages. */
  private flushOffline(ws: WebSocket, resumed: boolean): void {
    const { closes, messages } = this.outbox.drain();
    // Without a resume the relay expired every session already; nothing is owed.
    if (resumed) for (const [sessionId, reason] of closes) this.wsSend(ws, signalFrame(sessionId, SignalCode.close, reason));
    for (const [sessionId, held] of messages) {
      if (!this.endpoint?.session(sessionId)) continue;
      try {
        for (const message of held) this.endpoint.sendMessage(sessionId, message);
      } catch (error) {
        this.events.emit('error', { error: error as Error, sessionId });
      }
    }
  }

  private setState(state: DaemonState, error?: Error): void {
    if (this.stateValue === 'closed') return;
    this.stateValue = state;
    this.events.emit('state', error ? { state, error } : { state });
  }
}
