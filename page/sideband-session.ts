import { BROADCAST_CHANNEL, MESSAGE_PROTOCOL_VERSION, type PageMessage, type SidebandStatus } from '../sw/messages.js';
import { BroadcastDedupe, noticeKey, type NoticeSource } from './broadcast-dedupe.js';
import { Lane } from './lane.js';
import { assertDaemonPath, encodeCall, headerPairs, type CallInit } from './lane-codec.js';
import { startPageHeartbeat } from './page-heartbeat.js';
import type { Sideband, SidebandEvent } from './sideband.js';
import type { SidebandChannel } from './sideband-channel.js';
import { SidebandError } from './sideband-error.js';
import { StatusTracker } from './status-tracker.js';
import { parseWorkerNotice, versionMismatch, type RequestMessage } from './worker-messages.js';
import { requestStatus } from './worker-request.js';

export interface SessionSettings {
  heartbeatMs: number;
  replyTimeoutMs: number;
  laneStaleMs: number;
  laneProbeMs: number;
  ackBatch: number;
  maxPendingSends: number;
  dedupeWindowMs: number;
  dedupeMaxEntries: number;
}

/** The page messages without a reply, before `v` is attached. */
type PostMessage = Extract<PageMessage, { type: 'heartbeat' | 'lane' | 'wake' }> extends infer M ? (M extends unknown ? Omit<M, 'v'> : never) : never;

/**
 * The `Sideband` a page gets once its worker controls it (register-sideband.ts). It keeps the
 * page's view of the worker current across the worker's restarts (service-worker.md
 * "Lifetime": the browser stops it whenever it likes): hello on start, on `controllerchange`
 * and on return to visible; a changed boot id means a new worker instance, so the page hands
 * it a new lane, and what ran on the old one fails with `worker_restarted` rather than hanging.
 *
 * @example
 *   const session = new SidebandSession(navigator.serviceWorker, settings);
 *   await session.start();   // rejects if the worker does not answer or speaks another version
 */
export class SidebandSession implements Sideband {
  readonly trust: Sideband['trust'];
  /** Aborting removes every listener, stops the heartbeat and fails pending requests (style.md §14). */
  private readonly teardown = new AbortController();
  private readonly tracker = new StatusTracker();
  private readonly dedupe: BroadcastDedupe;
  private readonly statusListeners = new Set<(status: SidebandStatus) => void>();
  private readonly eventListeners = new Set<(event: SidebandEvent) => void>();
  private lane?: Lane;
  /** The boot id of the worker instance holding our lane's other end. */
  private laneBootId?: string;
  /** When the page last messaged the controller (each message extends the worker's life). */
  private lastPostAt = -Infinity;
  private refreshing?: Promise<SidebandStatus>;
  /** Set for good on a version mismatch: only a reload helps. */
  private fatal?: SidebandError;
  private closedError?: SidebandError;

  constructor(
    private readonly container: ServiceWorkerContainer,
    private readonly settings: SessionSettings,
  ) {
    this.dedupe = new BroadcastDedupe(settings.dedupeWindowMs, settings.dedupeMaxEntries);
    this.trust = {
      fingerprint: () => this.tracker.current?.fingerprint,
      offered: () => this.tracker.current?.offeredFingerprint,
      approve: (fingerprint) => this.request({ type: 'approve-identity', fingerprint }),
    };
  }

  get status(): SidebandStatus {
    // start() resolved with a status before registerSideband() handed this object out.
    return this.tracker.current as SidebandStatus;
  }

  /** Listens, starts the heartbeat, says hello and opens the lane. */
  async start(): Promise<void> {
    const { signal } = this.teardown;
    if (typeof BroadcastChannel === 'function') {
      const broadcast = new BroadcastChannel(BROADCAST_CHANNEL);
      broadcast.addEventListener('message', (event) => this.notice('broadcast-channel', event.data), { signal });
      signal.addEventListener('abort', () => broadcast.close(), { once: true });
    }
    // client.postMessage is the copy that must arrive (service-worker.md "Lifecycle"); the
    // BroadcastChannel copy of the same message is dropped by the dedupe.
    this.container.addEventListener('message', (event) => this.notice('client-message', event.data), { signal });
    // Client messages wait in a queue until the document has loaded unless started.
    this.container.startMessages();
    this.container.addEventListener('controllerchange', () => this.refreshInBackground(), { signal });
    addEventListener('pagehide', () => this.leave(), { signal });
    // The network came back: the worker skips its reconnect backoff instead of waiting it out.
    addEventListener('online', () => this.post({ type: 'wake' }), { signal });
    // Back from the back/forward cache: the lane was given up at pagehide.
    addEventListener('pageshow', (event) => event.persisted && this.refreshInBackground(), { signal });
    startPageHeartbeat({ intervalMs: this.settings.heartbeatMs, beat: () => this.beat(), onVisible: () => this.refreshInBackground(), signal });
    await this.refresh();
    this.assertUsable(); // a broadcast of another version may have come first
  }

  on(type: 'status', listener: (status: SidebandStatus) => void): () => void;
  on(type: 'event', listener: (event: SidebandEvent) => void): () => void;
  on(type: 'status' | 'event', listener: ((status: SidebandStatus) => void) | ((event: SidebandEvent) => void)): () => void {
    if (type !== 'status' && type !== 'event') throw new TypeError(`unknown Sideband event type '${String(type)}' (use 'status' or 'event')`);
    if (this.closedError) return () => {};
    const set = (type === 'status' ? this.statusListeners : this.eventListeners) as Set<typeof listener>;
    set.add(listener);
    return () => set.delete(listener);
  }

  pair(code: string, options: { label?: string; relay?: string } = {}): Promise<SidebandStatus> {
    const { label, relay } = options;
    return this.request({ type: 'pair', code, ...(relay !== undefined ? { relay } : {}), ...(label !== undefined ? { label } : {}) });
  }

  async call(path: string, init?: CallInit): Promise<Response> {
    const encoded = await encodeCall(path, init);
    try {
      return await this.onLane((lane) => lane.call(encoded));
    } catch (error) {
      // A worker that died with the call in flight may or may not have passed it on. A safe
      // method may run twice (RFC 9110 §9.2.1), so it is retried once on the new worker's lane
      // (when bodiless: a body's buffer went with the first attempt); anything else fails with
      // the code and the app decides.
      const retry = error instanceof SidebandError && error.code === 'worker_restarted' && SAFE_METHODS.has(encoded.message.method) && encoded.transfer.length === 0;
      if (!retry) throw error;
      return this.onLane((lane) => lane.call(encoded));
    }
  }

  async channel(path: string, options: { headers?: HeadersInit } = {}): Promise<SidebandChannel> {
    assertDaemonPath(path);
    const headers = headerPairs(options.headers);
    return this.onLane((lane) => lane.openChannel(path, headers));
  }

  async forget(): Promise<void> {
    await this.request({ type: 'forget' });
  }

  close(): void {
    if (this.closedError) return;
    this.closedError = new SidebandError('closed', 'this Sideband was closed');
    const lane = this.lane;
    this.lane = undefined;
    lane?.bye('closed', 'the Sideband was closed');
    this.teardown.abort(this.closedError);
    this.statusListeners.clear();
    this.eventListeners.clear();
  }

  /** Hello, coalesced: every trigger arriving while one is in flight shares it. */
  private refresh(): Promise<SidebandStatus> {
    this.refreshing ??= this.hello().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private refreshInBackground(): void {
    if (this.closedError || this.fatal) return;
    this.refresh().catch((error: unknown) => {
      // version_mismatch was already reported loudly; anything else is retried by the next trigger
      if (!this.closedError && !(error instanceof SidebandError && error.code === 'version_mismatch')) console.warn('sideband: hello to the service worker failed', error);
    });
  }

  private async hello(): Promise<SidebandStatus> {
    const status = await this.request({ type: 'hello' });
    if (!this.closedError && !this.fatal && (!this.lane || status.bootId !== this.laneBootId)) this.renewLane(status.bootId);
    return status;
  }

  /**
   * A new lane for the worker instance `bootId`. What ran on the old one fails with
   * `worker_restarted`: the new instance knows nothing of it, and re-opening channels behind
   * the app's back could repeat what the app did not mean to repeat.
   */
  private renewLane(bootId: string): void {
    const previous = this.lane;
    this.lane = undefined;
    previous?.fail('worker_restarted', 'the service worker restarted: calls in flight failed and channels closed; open them again');
    const { port1, port2 } = new MessageChannel();
    const lane: Lane = new Lane(port1, {
      ackBatch: this.settings.ackBatch,
      maxPendingSends: this.settings.maxPendingSends,
      onPortClosed: () => {
        if (this.lane !== lane) return;
        this.lane = undefined;
        this.refreshInBackground();
      },
    });
    try {
      this.post({ type: 'lane', port: port2 }, [port2]);
    } catch (error) {
      lane.fail('not_controlled', 'no service worker to hand the lane to');
      throw error;
    }
    this.lane = lane;
    this.laneBootId = bootId;
  }

  /**
   * The lane, checked first after a quiet spell: lane messages neither wake a stopped worker
   * nor extend a live one's life, so when the page has not messaged the controller for a while
   * (a hidden tab stops its heartbeat) a hello goes first, waking the worker and revealing a
   * restart, instead of a call waiting forever on a port nobody reads.
   */
  private async freshLane(): Promise<Lane> {
    this.assertUsable();
    if (!this.lane || performance.now() - this.lastPostAt > this.settings.laneStaleMs) await this.refresh();
    this.assertUsable();
    if (!this.lane) throw new SidebandError('worker_restarted', 'the service worker went away while the lane was being set up; try again');
    return this.lane;
  }

  /**
   * Runs `use` on a fresh lane; while it waits longer than `laneProbeMs`, one hello checks that
   * the worker behind the lane is still the same instance (a stopped worker's port is silent).
   */
  private async onLane<T>(use: (lane: Lane) => Promise<T>): Promise<T> {
    const lane = await this.freshLane();
    const probe = setTimeout(() => this.refreshInBackground(), this.settings.laneProbeMs);
    try {
      return await use(lane);
    } finally {
      clearTimeout(probe);
    }
  }

  private async request(message: RequestMessage): Promise<SidebandStatus> {
    this.assertUsable();
    const controller = this.container.controller;
    if (!controller) throw notControlled();
    this.lastPostAt = performance.now();
    try {
      const status = await requestStatus(controller, message, { timeoutMs: this.settings.replyTimeoutMs, signal: this.teardown.signal });
      this.applyStatus(status);
      return status;
    } catch (error) {
      if (error instanceof SidebandError) {
        if (error.status) this.applyStatus(error.status);
        if (error.code === 'version_mismatch') this.failFatal(error);
      }
      throw error;
    }
  }

  private post(message: PostMessage, transfer: Transferable[] = []): void {
    const controller = this.container.controller;
    if (!controller) throw notControlled();
    controller.postMessage({ ...message, v: MESSAGE_PROTOCOL_VERSION }, transfer);
    this.lastPostAt = performance.now();
  }

  private beat(): void {
    if (this.fatal || !this.container.controller) return;
    this.post({ type: 'heartbeat' });
    // While calls or channels depend on the lane, each beat also checks the worker's boot id:
    // a worker that died would otherwise leave them waiting without end.
    if (this.lane?.busy) this.refreshInBackground();
  }

  /** `pagehide`: the worker drops our lane on 'bye'; a page restored from the bfcache says hello again. */
  private leave(): void {
    const lane = this.lane;
    this.lane = undefined;
    this.laneBootId = undefined;
    lane?.bye('page_hidden', 'the page was hidden (pagehide): its calls and channels ended');
  }

  private notice(source: NoticeSource, data: unknown): void {
    if (this.fatal || this.closedError) return;
    const notice = parseWorkerNotice(data);
    if (!notice) return;
    if (notice.kind === 'version_mismatch') return this.failFatal(versionMismatch(`it broadcast version ${String(notice.v)}`));
    if (!this.dedupe.accept(source, noticeKey(data as { type: string }))) return;
    if (notice.kind === 'event') return emit(this.eventListeners, { name: notice.name, data: notice.data });
    // Another boot id: the worker restarted, or a late copy from the old instance. Only the
    // Reply to our own hello (from the current controller) decides whether the lane is renewed.
    if (this.laneBootId !== undefined && notice.status.bootId !== this.laneBootId) this.refreshInBackground();
    this.applyStatus(notice.status);
  }

  private applyStatus(status: SidebandStatus): void {
    if (this.tracker.update(status)) emit(this.statusListeners, status);
  }

  /** A version mismatch: nothing more goes to the worker; listeners see a status with the code. */
  private failFatal(error: SidebandError): void {
    if (this.fatal) return;
    this.fatal = error;
    const lane = this.lane;
    this.lane = undefined;
    lane?.fail(error.code, error.message);
    const current = this.tracker.current;
    if (current) this.applyStatus({ ...current, code: error.code, message: error.message });
  }

  private assertUsable(): void {
    if (this.closedError) throw this.closedError;
    if (this.fatal) throw this.fatal;
  }
}

/** Methods that change nothing on the server (RFC 9110 §9.2.1), so a lost call may be sent again. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function notControlled(): SidebandError {
  return new SidebandError('not_controlled', 'no service worker controls this page any more (was it unregistered?): reload the page');
}

/** Calls each listener; one that throws is reported (like an EventTarget's) and cannot stop the others. */
function emit<T>(listeners: Set<(value: T) => void>, value: T): void {
  for (const listener of [...listeners]) {
    try {
      listener(value);
    } catch (error) {
      reportError(error);
    }
  }
}
