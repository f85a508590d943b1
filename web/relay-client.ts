import { ClientSession, type ClientSessionEvent } from '../protocol/client-session.js';
import { bytesEqual } from '../protocol/bytes.js';
import { generateEphemeral } from '../protocol/handshake.js';
import { EphemeralAhead } from '../protocol/ephemeral-ahead.js';
import { randomBytes } from '../protocol/random.js';
import { IdentityKeyChangedError, SbrpError } from '../protocol/errors.js';
import { fingerprint } from '../protocol/fingerprint.js';
import { ReconnectBackoff, shouldRetry } from '../protocol/reconnect-policy.js';
import { decodeSid } from '../protocol/session-id.js';
import { nobleAead, type Plaintext } from '../protocol/aead.js';
import { Emitter } from './emitter.js';
import { ConfigError, ConnectionError, errorCode } from './errors.js';
import { Heartbeat } from './heartbeat.js';
import { readJwtClaims } from './jwt-claims.js';
import { closeOnAbort } from './close-on-abort.js';
import { relayWebSocketUrl } from './relay-url.js';
import { sleep } from './sleep.js';
import type { OpenRelaySocket, RelaySocket } from './relay-socket.js';
import { CLIENT_DEFAULTS, type ClientEvents, type ClientState, type ConnectClientOptions, type RelayClient } from './client-types.js';

export interface RelayClientLoopOptions extends ConnectClientOptions {
  /** The runtime's WebSocket (relay-socket.ts). */
  openSocket: OpenRelaySocket;
  /**
   * Starts the connection to `url` as an attempt begins, so it is set up while the token is
   * fetched and the next `openSocket` uses it (Node: node/relay-preconnect.ts). Optional: the
   * browser's WebSocket cannot be opened ahead of its URL. Returns a function that closes the
   * connection if this attempt fails before using it.
   */
  preconnect?: (url: string, signal: AbortSignal) => () => void;
}

/**
 * The client's connection loop, the same code in Node and in the service worker (design.md
 * `web/`): one session at a time over its own socket, a fresh token per attempt, TOFU pinning,
 * pause/resume, heartbeat, and a full reconnect (new token, new handshake, backoff with jitter)
 * whenever a session ends. An `identity_key_changed` (or another code a human must act on)
 * stops it with state `closed`: approve the new key in the pin store (after comparing
 * fingerprints), then `reconnect()` starts it again on the same object, listeners included.
 * Socket, storage and AEAD are injected; client/connect-client.ts and sw/ supply them.
 *
 *   const client = new RelayClientLoop({ relay, daemonId, getToken, pinStore, openSocket });
 *   client.onMessage((data) => console.log(new TextDecoder().decode(data)));
 *   await client.ready();
 */
export class RelayClientLoop implements RelayClient {
  private readonly events = new Emitter<ClientEvents>();
  private readonly wsUrl: string;
  private readonly backoff: ReconnectBackoff;
  /** Replaced by reconnect() after a stop on an error: one per run of the loop. */
  private abort = new AbortController();
  private loop: Promise<void>;
  private stateValue: ClientState = 'connecting';
  private session?: ClientSession;
  private ws?: RelaySocket;
  private lastError?: Error;
  /** What `ready()` rejects with once closed: the terminal error, or `closed` for close(). */
  private closeError?: Error;
  private closing?: Promise<void>;
  private readonly flushListeners = new Set<() => void>();
  /** Wakeups for a loop sleeping in backoff (`wake()`): the network came back. */
  private wakeBackoff?: () => void;
  /** The transport said bytes were written out: `bufferedAmount` just fell (see onFlush). */
  private readonly flushed = (): void => {
    for (const listener of this.flushListeners) listener();
  };

  constructor(private readonly options: RelayClientLoopOptions) {
    if (!options.daemonId) throw new ConfigError('daemonId is required');
    this.wsUrl = options.wsUrl ?? relayWebSocketUrl(options.relay);
    this.backoff = new ReconnectBackoff(options.reconnect, options.random);
    if (options.onMessage) this.onMessage(options.onMessage);
    closeOnAbort(options.signal, () => void this.close(), this.abort.signal);
    this.loop = this.run();
  }

  get state(): ClientState {
    return this.stateValue;
  }

  get sessionId(): bigint | undefined {
    return this.session?.sessionId;
  }

  get error(): Error | undefined {
    return this.lastError;
  }

  get bufferedAmount(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  onFlush(listener: () => void): () => void {
    this.flushListeners.add(listener);
    return () => this.flushListeners.delete(listener);
  }

  on<K extends keyof ClientEvents>(type: K, listener: (event: ClientEvents[K]) => void, options?: { signal?: AbortSignal }): () => void {
    return this.events.on(type, listener, options);
  }

  onMessage(listener: (data: Uint8Array) => void): () => void {
    return this.events.on('message', ({ data }) => listener(data));
  }

  ready(): Promise<void> {
    if (this.stateValue === 'open') return Promise.resolve();
    if (this.stateValue === 'closed') return Promise.reject(this.closeError);
    return new Promise((resolve, reject) => {
      // `state` covers both a new session (open) and a resumed one (paused → pending → open).
      const off = this.events.on('state', ({ state }) => {
        if (state === 'open') resolve();
        else if (state === 'closed') reject(this.closeError);
        else return;
        off();
      });
    });
  }

  send(data: Plaintext): void {
    const session = this.session;
    const live = session?.state === 'open' || session?.state === 'paused' || session?.state === 'pending';
    if (!session || !live || !this.ws) throw new ConnectionError('not_connected', `no open session (state ${this.stateValue})`);
    const max = this.options.maxBufferedBytes ?? CLIENT_DEFAULTS.maxBufferedBytes;
    if (this.ws.bufferedAmount > max) throw new SbrpError('backpressure', `relay socket buffers ${this.ws.bufferedAmount} bytes`, session.sessionId);
    session.sendMessage(data);
  }

  /**
   * Skips the current backoff wait (the network came back: `online`, a page asked). A no-op
   * unless the loop is waiting to reconnect.
   */
  wake(): void {
    this.wakeBackoff?.();
  }

  /**
   * Starts the loop again after it stopped on an error a human had to resolve, without a new
   * client: after `identity_key_changed` once the user compared the fingerprints and called
   * `pinStore.approve(daemonId, error.offeredKey)` (every attempt re-reads the pin), after
   * `device_revoked` once the device paired again, and so on. Fetches a fresh token and does a
   * full handshake; a pin that still differs stops it again with the same error. While the
   * loop runs it only skips a backoff wait (`wake()`). Throws ConnectionError `closed` after
   * `close()`.
   *
   *   client.on('closed', async ({ error }) => {
   *     if (error instanceof IdentityKeyChangedError && (await askUser(error.offeredFingerprint))) {
   *       await pinStore.approve(error.daemonId, error.offeredKey);
   *       client.reconnect();
   *     }
   *   });
   */
  reconnect(): void {
    if (this.closing) throw new ConnectionError('closed', 'client closed');
    if (this.stateValue !== 'closed') return this.wake();
    this.abort = new AbortController();
    closeOnAbort(this.options.signal, () => void this.close(), this.abort.signal);
    this.closeError = undefined;
    this.stateValue = 'connecting';
    this.events.emit('state', { state: 'connecting' });
    this.loop = this.run();
  }

  endSession(error: SbrpError): void {
    this.session?.close(error); // ends the attempt; the loop reconnects unless the code forbids it
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const ws = this.ws;
    this.abort.abort();
    if (ws) await ws.close();
    await this.loop;
    this.finish(undefined);
    this.events.removeAll();
  }

  /** State `closed`. A stop on an error keeps the listeners: reconnect() may start the loop again. */
  private finish(error: Error | undefined): void {
    if (this.stateValue === 'closed') return;
    if (error) this.lastError = error;
    this.closeError = error ?? new ConnectionError('closed', 'client closed');
    this.setState('closed', error);
    this.events.emit('closed', error ? { error } : {});
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      const error = await this.attempt(signal);
      if (signal.aborted) return;
      this.lastError = error;
      if (!shouldRetry(errorCode(error))) {
        // identity_key_changed, handshake_failed, forbidden…: a human must act first (sbrp.md §5).
        this.events.emit('disconnected', { error });
        this.finish(error);
        this.abort.abort();
        return;
      }
      const retryInMs = this.backoff.delay();
      this.events.emit('disconnected', { error, retryInMs });
      this.setState('reconnecting', error);
      const wake = new AbortController();
      this.wakeBackoff = () => wake.abort();
      await sleep(retryInMs, AbortSignal.any([signal, wake.signal]));
      this.wakeBackoff = undefined;
    }
  }

  /** One attempt: token, pin, socket, handshake, then serve until the session ends. */
  private async attempt(signal: AbortSignal): Promise<Error> {
    this.setState('connecting');
    let sessionId: bigint | undefined;
    let pinned: Uint8Array | undefined;
    let ws: RelaySocket;
    // The connection setup and the pin read overlap the token request instead of following it
    // (issue 9; a file pin store reads the disk).
    const dropPreconnected = this.options.preconnect?.(this.wsUrl, signal);
    const pinRead = settledLater(() => this.options.pinStore.get(this.options.daemonId));
    // The handshake's key is made during the token wait, not between socket open and HandshakeInit.
    const ahead = new EphemeralAhead(() => generateEphemeral(randomBytes, this.options.handshake));
    try {
      const { token, sid } = await this.options.getToken(signal);
      sessionId = decodeSid(sid ?? readJwtClaims(token)?.sid);
      if (sessionId === undefined) {
        dropPreconnected?.();
        ahead.discard();
        return new ConfigError('session token carries no valid sid (sbrp.md §5)');
      }
      pinned = await pinRead;
      ws = await this.options.openSocket(this.wsUrl, token, signal);
    } catch (error) {
      dropPreconnected?.();
      ahead.discard();
      return error as Error;
    }
    const daemonId = this.options.daemonId;
    const handshakeTimeoutMs = this.options.handshakeTimeoutMs ?? CLIENT_DEFAULTS.handshakeTimeoutMs;
    return new Promise<Error>((resolve) => {
      let ended = false;
      let userOpen = false;
      const early: Uint8Array[] = [];
      const maxEarly = this.options.maxHeldMessages ?? CLIENT_DEFAULTS.maxHeldMessages;
      const wsSend = (frame: Uint8Array): void => ws.send(frame);
      const offFlush = ws.onFlush?.(this.flushed);
      const heartbeat = new Heartbeat({
        intervalMs: this.options.pingIntervalMs ?? CLIENT_DEFAULTS.pingIntervalMs,
        timeoutMs: this.options.pongTimeoutMs ?? CLIENT_DEFAULTS.pongTimeoutMs,
        send: wsSend,
        onDead: () => end(new ConnectionError('relay_silent', 'no Pong from the relay')),
      });
      // sbrp.md §2: 30 s from WebSocket open to HandshakeAccept.
      const handshakeTimer = setTimeout(() => session.handshakeTimedOut(), handshakeTimeoutMs);

      const end = (error: Error): void => {
        if (ended) return;
        ended = true;
        clearTimeout(handshakeTimer);
        heartbeat.stop();
        offFlush?.();
        session.close(); // idempotent; zeroes key material
        ws.terminate();
        if (this.session === session) {
          this.session = undefined;
          this.ws = undefined;
        }
        resolve(error);
      };

      const markOpen = (identityPublicKey: Uint8Array, firstContact: boolean): void => {
        if (ended || userOpen) return;
        userOpen = true;
        this.backoff.connected();
        this.setState(session.state === 'open' ? 'open' : session.state === 'paused' ? 'paused' : 'pending');
        this.events.emit('open', { sessionId: session.sessionId, identityPublicKey, fingerprint: fingerprint(identityPublicKey), firstContact });
        for (const data of early.splice(0)) this.events.emit('message', { data });
      };

      const onEvent = (event: ClientSessionEvent): void => {
        switch (event.type) {
          case 'open':
            clearTimeout(handshakeTimer);
            if (!event.firstContact) return markOpen(event.identityPublicKey, false);
            // Pin before anyone sees the session open; the signature verified already (sbrp.md §5).
            this.options.pinStore.pin(daemonId, event.identityPublicKey).then(
              (inForce) => {
                if (bytesEqual(inForce, event.identityPublicKey)) return markOpen(event.identityPublicKey, true);
                // Someone pinned another key meanwhile: that pin wins, this session does not.
                const error = new IdentityKeyChangedError(daemonId, fingerprint(inForce), event.fingerprint, event.identityPublicKey, session.sessionId);
                session.close(error);
              },
              (error: Error) => {
                session.close(new SbrpError('internal_error', `could not persist the pin: ${error.message}`, session.sessionId));
              },
            );
            return;
          case 'message':
            if (userOpen) this.events.emit('message', { data: event.data });
            else if (early.length < maxEarly) early.push(event.data);
            else session.close(new SbrpError('backpressure', 'too many messages before the pin was written', session.sessionId));
            return;
          case 'paused':
          case 'pending':
          case 'resumed':
            if (userOpen) this.setState(event.type === 'resumed' ? 'open' : event.type);
            this.events.emit(event.type, {});
            return;
          case 'replay':
            this.events.emit('replay', { seq: event.seq });
            return;
          case 'rate_limited':
            this.events.emit('rate_limited', {});
            return;
          case 'pong':
            heartbeat.pong();
            return;
          case 'closed':
            end(event.error ?? new ConnectionError('connection_lost', 'relay connection closed'));
            return;
        }
      };

      const session: ClientSession = new ClientSession({
        daemonId,
        sessionId,
        pinnedIdentity: pinned,
        send: wsSend,
        onEvent,
        maxHeldMessages: this.options.maxHeldMessages,
        maxHeldBytes: this.options.maxHeldBytes,
        aead: this.options.aead ?? nobleAead,
        handshake: this.options.handshake,
        ephemeral: ahead.take(),
      });
      if (signal.aborted) return end(new ConnectionError('closed', 'client closed'));

      this.session = session;
      this.ws = ws;
      this.setState('handshaking');
      session.start();
      heartbeat.start();
      // Everything is wired: let frames in (a socket delivers nothing before start()).
      ws.start({
        message: (data) => {
          if (!ended) session.receive(data);
        },
        text: () => session.close(new SbrpError('malformed_frame', 'text message on the relay socket (sbrp.md §1)')),
        close: () => end(session.error ?? new ConnectionError('connection_lost', 'relay connection closed')),
      });
    });
  }

  private setState(state: ClientState, error?: Error): void {
    if (this.stateValue === 'closed' || this.stateValue === state) return;
    this.stateValue = state;
    this.events.emit('state', error ? { state, error } : { state });
  }
}

/**
 * Starts `read` now for an `await` later: a synchronous throw becomes the rejection, and a
 * rejection nobody awaits (the attempt failed before it needed the value) is not unhandled.
 */
function settledLater<T>(read: () => Promise<T>): Promise<T> {
  let promise: Promise<T>;
  try {
    promise = read();
  } catch (error) {
    promise = Promise.reject(error);
  }
  promise.catch(() => {});
  return promise;
}
