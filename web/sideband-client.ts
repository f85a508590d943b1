import type { Plaintext } from '../protocol/aead.js';
import { SbrpError } from '../protocol/errors.js';
import { Mux } from '../protocol/stream/mux.js';
import type { MuxStream } from '../protocol/stream/mux-stream.js';
import type { OpenHead } from '../protocol/stream/heads.js';
import type { ReceiveCreditPolicy } from '../protocol/stream/receive-credit.js';
import { muxExchange, type ExchangeOptions, type ExchangeRequest, type ExchangeResponse } from './mux-exchange.js';
import { STREAM_DEFAULTS, type StreamLimits } from '../protocol/stream/stream-codes.js';
import { StreamError } from '../protocol/stream/stream-error.js';
import { Emitter } from './emitter.js';
import { ConnectionError, errorCode } from './errors.js';
import { openChannel, type Channel, type ChannelLimits, type HeaderInit } from './channel.js';
import { muxFetch } from './mux-fetch.js';
import { WriteGate } from './write-gate.js';
import type { ClientEvents, ClientState, ConnectClientOptions, RelayClient } from './client-types.js';

/** Everything of connect()'s options that is about the multiplexer above the connection loop. */
export interface SidebandClientOptions {
  /**
   * Inner-protocol limits this client announces. Default: STREAM_DEFAULTS with 1 MiB stream and
   * 4 MiB session windows, so a download needs few CREDIT frames (the relay rate-limits client
   * messages) while a stopped reader still bounds what every hop holds.
   */
  limits?: Partial<StreamLimits>;
  channelLimits?: Partial<ChannelLimits>;
  /** How long `fetch`/`channel` wait for a session before failing with `not_connected` (default 30 s). */
  sessionWaitMs?: number;
  /**
   * Calls that may wait at once, for a session or for a free stream; more fail at once with
   * StreamError `refused` (default 1024). A call waits for a stream while `limits.maxPendingOpens`
   * (1024) of its own requests already wait for their response head, so 2048 requests fired
   * together all go through, in order, as earlier ones are answered.
   */
  maxWaiting?: number;
  /** Pause body output while the relay socket buffers this much (default 256 KiB, WRITE_GATE_DEFAULTS). */
  writeHighWaterMark?: number;
  /**
   * Runs the multiplexer's scheduler later instead of at every write (Mux `defer`), so body
   * pieces fill whole frames; the Node client passes `setImmediate`. Default: send at once.
   */
  defer?: (run: () => void) => void;
  /**
   * Lets a lone busy stream's receive window grow past `limits.streamWindow` and takes the
   * extra back while other streams are busy (Mux `receiveCredit`, docs/protocol.md §5). The
   * service worker announces small windows and passes this, so a lone download runs at full
   * rate while a new request waits behind little of it. Default: windows stay as announced.
   */
  receiveCredit?: ReceiveCreditPolicy;
}

export interface ConnectOptions extends Omit<ConnectClientOptions, 'onMessage'>, SidebandClientOptions {}

export const CONNECT_DEFAULTS = Object.freeze({
  sessionWaitMs: 30_000,
  maxWaiting: 1024,
  limits: Object.freeze({ ...STREAM_DEFAULTS, streamWindow: 1024 * 1024, sessionWindow: 4 * 1024 * 1024 }),
});

export interface ConnectEvents extends Omit<ClientEvents, 'message'> {
  /** A daemon event (`Listener.publish`); `sideband.events-dropped` reports a loss with `data.count`. */
  event: { name: string; data: unknown };
}

/** A fetch-shaped function: pass it where a library takes `fetch` (Hono's `hc`, ky, …). */
export type SidebandFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface SidebandClient {
  /**
   * WHATWG fetch to the daemon: only path and query of the URL matter. Rejects with
   * StreamError (`session_closed`, `refused`, `going_away`, …), ConnectionError
   * (`not_connected` after `sessionWaitMs`, `closed`), or the error that stopped the client
   * (`identity_key_changed`, …); an aborted `signal` rejects with its reason.
   */
  readonly fetch: SidebandFetch;
  /**
   * One request and its whole answer, without Request/Response/stream objects (the service
   * worker's MessagePort lane): body bounded by `maxBodyBytes` (`response_too_large` beyond).
   * Rejects as `fetch` does.
   *
   * @example
   *   const { status, headers, body } = await client.exchange({ method: 'GET', path: '/api/ping' }, { maxBodyBytes: 1 << 20 });
   */
  exchange(request: ExchangeRequest, options: ExchangeOptions): Promise<ExchangeResponse>;
  /** Opens a channel; rejects with ChannelError `channel_refused` (with `status`) or as `fetch` does. */
  channel(path: string, init?: { headers?: HeaderInit; signal?: AbortSignal }): Promise<Channel>;
  on<K extends keyof ConnectEvents>(type: K, listener: (event: ConnectEvents[K]) => void, options?: { signal?: AbortSignal }): () => void;
  /** End-to-end round trip to the daemon's inner protocol, in ms. */
  ping(): Promise<number>;
  /** Resolves once a session is open (at once if one is). */
  ready(): Promise<void>;
  readonly state: ClientState;
  readonly sessionId: bigint | undefined;
  /** Why the client stopped, or why the last attempt failed. */
  readonly error: Error | undefined;
  /**
   * Starts the client again after it stopped (state `closed`) on an error a human had to
   * resolve, keeping this object and its listeners: typically `identity_key_changed`, once the
   * user compared the fingerprints and called `pinStore.approve(daemonId, error.offeredKey)`.
   * The pin is re-read on every attempt; one that still differs stops the client again. While
   * the client runs it only skips a backoff wait. Throws ConnectionError `closed` after close().
   *
   *   client.on('closed', async ({ error }) => {
   *     if (error instanceof IdentityKeyChangedError && (await userApproves(error.offeredFingerprint))) {
   *       await pinStore.approve(error.daemonId, error.offeredKey);
   *       client.reconnect();
   *     }
   *   });
   */
  reconnect(): void;
  /** Fails whatever is in flight with `closed`, closes the socket. Idempotent. */
  close(): Promise<void>;
}

/** A connection loop that can start again after a terminal error (web/relay-client.ts). */
export interface ReconnectableRelayClient extends RelayClient {
  reconnect(): void;
}

/**
 * A client of one daemon: HTTP and channels over the end-to-end encrypted session, with the
 * reconnects of the connection loop (`relay`) underneath; the same code serves the Node client
 * (client/connect.ts) and the service worker. Each SBRP session gets a fresh inner
 * multiplexer; when a session ends, whatever ran on it fails with `session_closed` (never a
 * silent truncation) and the next request waits for the new one.
 *
 *   const client = sidebandClient(new RelayClientLoop({ ...options, openSocket }), options);
 *   const res = await client.fetch('/api/hello');
 */
export function sidebandClient(relay: RelayClient & Partial<Pick<ReconnectableRelayClient, 'reconnect'>>, options: SidebandClientOptions = {}): SidebandClient {
  return new MuxClient(relay, options);
}

type Forwarded = Exclude<keyof ClientEvents, 'message'>;
const FORWARDED: readonly Forwarded[] = ['state', 'open', 'paused', 'pending', 'resumed', 'replay', 'rate_limited', 'disconnected', 'closed'];

/**
 * The multiplexer, telling its client about every stream it opens: the Mux refuses an open
 * outright once `maxPendingOpens` wait for the peer, so the client counts and queues in front.
 */
class CountedMux extends Mux {
  constructor(
    options: ConstructorParameters<typeof Mux>[0],
    private readonly opened: (stream: MuxStream) => void,
  ) {
    super(options);
  }

  override open(head: OpenHead, options?: { end?: boolean }): MuxStream {
    const stream = super.open(head, options);
    this.opened(stream);
    return stream;
  }
}

class MuxClient implements SidebandClient {
  readonly fetch: SidebandFetch;
  private readonly events = new Emitter<ConnectEvents>();
  private readonly relay: RelayClient & Partial<Pick<ReconnectableRelayClient, 'reconnect'>>;
  private readonly gate: WriteGate;
  private readonly limits: StreamLimits;
  private mux?: Mux;
  /** Calls waiting for a session. */
  private waiting = 0;
  /** Our streams still waiting for their response head (a superset of the Mux's pending opens). */
  private unanswered = 0;
  /** Calls waiting for `unanswered` to fall below `limits.maxPendingOpens`, oldest first. */
  private readonly streamWaiters: { grant: () => void; fail: (error: unknown) => void }[] = [];
  /** Set while a call with a granted slot opens its stream (synchronously): that open uses the slot. */
  private openingWithSlot = false;
  private closing?: Promise<void>;

  constructor(
    relay: RelayClient & Partial<Pick<ReconnectableRelayClient, 'reconnect'>>,
    private readonly options: SidebandClientOptions,
  ) {
    this.limits = { ...CONNECT_DEFAULTS.limits, ...options.limits };
    this.relay = relay;
    this.gate = new WriteGate({
      bufferedAmount: () => relay.bufferedAmount,
      onFlush: (listener) => relay.onFlush(listener),
      // Paused or pending: the session holds what we send (bounded), so hold bodies here.
      canWrite: () => relay.state === 'open',
      highWaterMark: options.writeHighWaterMark,
      onDrain: () => this.mux?.pump(),
    });
    // Our own listeners first: the multiplexer must exist before anyone hears of the session.
    relay.on('open', () => this.startMux());
    relay.onMessage((data) => this.mux?.receive(data));
    relay.on('resumed', () => {
      // Frames that were in flight to a daemon whose connection dropped are lost; a probe makes
      // the daemon see the sequence gap now rather than both ends waiting for credit forever.
      this.mux?.ping().catch(() => {});
      this.gate.kick();
    });
    relay.on('disconnected', ({ error }) => this.endMux(new StreamError('session_closed', `the session to the daemon ended (${errorCode(error) ?? error.message})`)));
    relay.on('closed', ({ error }) => this.endMux(new StreamError('session_closed', `the client stopped${error ? ` (${errorCode(error) ?? error.message})` : ''}`)));
    const forward = <K extends Forwarded>(type: K) => relay.on(type, (event) => this.events.emit(type, event as ConnectEvents[K]));
    for (const type of FORWARDED) forward(type);
    this.fetch = (input, init) => this.withStream(init?.signal ?? (input instanceof Request ? input.signal : undefined), (mux) => muxFetch(mux, input, init));
  }

  get state(): ClientState {
    return this.relay.state;
  }

  get sessionId(): bigint | undefined {
    return this.relay.sessionId;
  }

  get error(): Error | undefined {
    return this.relay.error;
  }

  on<K extends keyof ConnectEvents>(type: K, listener: (event: ConnectEvents[K]) => void, options?: { signal?: AbortSignal }): () => void {
    return this.events.on(type, listener, options);
  }

  exchange(request: ExchangeRequest, options: ExchangeOptions): Promise<ExchangeResponse> {
    return this.withStream(options.signal, (mux) => muxExchange(mux, request, options));
  }

  channel(path: string, init: { headers?: HeaderInit; signal?: AbortSignal } = {}): Promise<Channel> {
    return this.withStream(init.signal, (mux) => openChannel(mux, path, { ...init, limits: this.options.channelLimits }));
  }

  reconnect(): void {
    if (this.closing) throw new ConnectionError('closed', 'the client was closed');
    if (!this.relay.reconnect) throw new TypeError('this connection cannot be restarted; connect() again');
    this.relay.reconnect();
  }

  async ping(): Promise<number> {
    return (await this.currentMux()).ping();
  }

  async ready(): Promise<void> {
    await this.currentMux();
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.gate.close();
      for (const waiter of this.streamWaiters.splice(0)) waiter.fail(new ConnectionError('closed', 'the client was closed'));
      this.endMux(new StreamError('session_closed', 'the client was closed'));
      await this.relay.close();
      this.events.removeAll();
    })();
    return this.closing;
  }

  private startMux(): void {
    this.endMux(new StreamError('session_closed', 'a new session replaced this one'));
    const relay = this.relay;
    let failed = false;
    // DATA frames arrive as parts (header, views of the queued body) and are sealed unjoined.
    const send = (frame: Plaintext) => {
      if (failed) return;
      try {
        relay.send(frame);
      } catch (error) {
        // A frame could not go out (held-message bound while paused, socket bound): the inner
        // session is no longer whole. End it and the SBRP session, so the client reconnects.
        failed = true;
        const code = errorCode(error) ?? 'internal';
        queueMicrotask(() => {
          mux.close(new StreamError('session_closed', `relay send failed: ${code}`));
          relay.endSession(new SbrpError('internal_error', `inner stream session failed: ${code}`));
        });
      }
    };
    const mux: Mux = new CountedMux({
      role: 'client',
      limits: this.limits,
      defer: this.options.defer,
      receiveCredit: this.options.receiveCredit,
      isWritable: () => this.gate.isWritable(),
      send,
      sendParts: send,
      onEvent: (name, data) => this.events.emit('event', { name, data }),
      onClose: (error) => {
        if (this.mux !== mux) return;
        this.mux = undefined;
        // The daemon ended the inner session (ERROR) or sent something malformed: this SBRP
        // session cannot carry another, so start over with a new one.
        if (error && error.code !== 'session_closed') relay.endSession(new SbrpError('internal_error', `inner stream session failed: ${error.code}`));
      },
    }, (stream) => this.counted(stream));
    this.mux = mux;
    mux.start();
  }

  private endMux(error: StreamError): void {
    const mux = this.mux;
    this.mux = undefined;
    mux?.close(error);
  }

  /**
   * Runs `open` (which opens one stream synchronously, before its first await) on the live
   * multiplexer once fewer than `maxPendingOpens` of our streams wait for an answer; until then
   * the call waits in line (bounded by `maxWaiting`, with the calls waiting for a session).
   */
  private async withStream<T>(signal: AbortSignal | undefined, open: (mux: Mux) => Promise<T>): Promise<T> {
    await this.currentMux(signal);
    await this.streamSlot(signal);
    let mux: Mux;
    try {
      mux = await this.currentMux(signal); // the session may have changed while the call waited
    } catch (error) {
      this.releaseSlot();
      throw error;
    }
    this.openingWithSlot = true;
    let result: Promise<T>;
    try {
      result = open(mux);
    } finally {
      // Still set: the call failed before it opened a stream (aborted, bad request), so the slot is free again.
      if (this.openingWithSlot) this.releaseSlot();
      this.openingWithSlot = false;
    }
    return result;
  }

  private streamSlot(signal: AbortSignal | undefined): Promise<void> {
    if (this.unanswered < this.limits.maxPendingOpens && this.streamWaiters.length === 0) {
      this.unanswered++;
      return Promise.resolve();
    }
    signal?.throwIfAborted();
    const maxWaiting = this.options.maxWaiting ?? CONNECT_DEFAULTS.maxWaiting;
    const waiting = this.waiting + this.streamWaiters.length;
    if (waiting >= maxWaiting) {
      return Promise.reject(new StreamError('refused', `${this.unanswered} requests wait for an answer and ${waiting} more wait to be sent (maxWaiting ${maxWaiting})`));
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const index = this.streamWaiters.indexOf(waiter);
        if (index >= 0) this.streamWaiters.splice(index, 1);
        reject(signal!.reason);
      };
      const waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        fail: (error: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.streamWaiters.push(waiter);
    });
  }

  /** A stream our multiplexer opened: it holds its slot until its response head (or its end). */
  private counted(stream: MuxStream): void {
    if (this.openingWithSlot) this.openingWithSlot = false;
    else this.unanswered++; // opened outside withStream (none today): count it all the same
    const release = () => this.releaseSlot();
    stream.response.then(release, release);
  }

  private releaseSlot(): void {
    this.unanswered--;
    while (this.unanswered < this.limits.maxPendingOpens && this.streamWaiters.length > 0) {
      this.unanswered++;
      this.streamWaiters.shift()!.grant();
    }
  }

  /** The live multiplexer, waiting (bounded) for a session when there is none. */
  private currentMux(signal?: AbortSignal): Promise<Mux> {
    if (this.mux && !this.mux.closed) return Promise.resolve(this.mux);
    if (this.closing || this.relay.state === 'closed') return Promise.reject(this.relay.error ?? new ConnectionError('closed', 'the client was closed'));
    signal?.throwIfAborted();
    const maxWaiting = this.options.maxWaiting ?? CONNECT_DEFAULTS.maxWaiting;
    if (this.waiting >= maxWaiting) return Promise.reject(new StreamError('refused', `${this.waiting} calls already wait for a session`));
    const waitMs = this.options.sessionWaitMs ?? CONNECT_DEFAULTS.sessionWaitMs;
    this.waiting++;
    return new Promise<Mux>((resolve, reject) => {
      const stop = new AbortController();
      const done = (error?: unknown) => {
        if (stop.signal.aborted) return;
        this.waiting--;
        stop.abort();
        clearTimeout(timer);
        if (error !== undefined) reject(error);
        else if (this.mux) resolve(this.mux);
        else reject(new ConnectionError('not_connected', 'the session ended before the request was sent'));
      };
      const timer = setTimeout(() => done(new ConnectionError('not_connected', `no session to the daemon within ${waitMs} ms (state ${this.relay.state})`)), waitMs);
      // Registered after the constructor's `open` listener, so the multiplexer exists by now.
      this.relay.on('open', () => done(), { signal: stop.signal });
      this.relay.on('closed', ({ error }) => done(error ?? new ConnectionError('closed', 'the client was closed')), { signal: stop.signal });
      signal?.addEventListener('abort', () => done(signal.reason), { signal: stop.signal });
    });
  }
}
