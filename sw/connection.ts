import { nobleAead } from '../protocol/aead.js';
import { toBase64Url } from '../protocol/bytes.js';
import { IdentityKeyChangedError } from '../protocol/errors.js';
import { fingerprint } from '../protocol/fingerprint.js';
import type { ClientState } from '../web/client-types.js';
import { signedDeviceTokens } from '../web/device-token-source.js';
import { errorCode } from '../web/errors.js';
import { decodeIdentityKey, redeemQuickConnectCode } from '../web/quick-connect-redeem.js';
import { RelayClientLoop } from '../web/relay-client.js';
import { sidebandClient, type SidebandClient } from '../web/sideband-client.js';
import { browserSocketOpener } from './browser-socket.js';
import { createDeviceKey, signWithDeviceKey } from './device-key.js';
import { connectionFailure, SidebandHttpError } from './error-response.js';
import type { SidebandState, SidebandStatus } from './messages.js';
import type { SidebandStore, StoredDevice } from './sideband-store.js';
import { WORKER_DEFAULTS, type WorkerConfig } from './worker-config.js';

interface Live {
  device: StoredDevice;
  loop: RelayClientLoop;
  client: SidebandClient;
  /** Why the last attempt failed, with the loop's next retry. */
  failure?: { error: Error; retryInMs?: number };
  /** The loop gave up (terminal error) at this time. */
  stoppedAt?: number;
}

/**
 * The worker's one relay connection and session, shared by every tab (design.md): built
 * lazily on the first request or page message from the device record in IndexedDB, through
 * the same connection loop and multiplexer as the Node client. Publishes every status change
 * (`onStatus`) and daemon event (`onEvent`); pairing, trust and forget rebuild it.
 */
export class WorkerConnection {
  private live?: Live;
  private starting?: Promise<Live | undefined>;
  private statusValue: SidebandStatus;
  private lastWake = 0;
  private pendingOffer?: { daemonId: string; key: Uint8Array };

  constructor(
    private readonly config: WorkerConfig,
    private readonly hooks: { bootId: string; aead: 'native' | 'noble'; store: () => Promise<SidebandStore>; onStatus: (status: SidebandStatus) => void; onEvent: (name: string, data: unknown) => void },
  ) {
    this.statusValue = { state: 'idle', bootId: hooks.bootId, aead: hooks.aead };
  }

  get status(): SidebandStatus {
    return this.statusValue;
  }

  /** Starts the connection if paired and not started; resolves with the status after that. */
  async start(): Promise<SidebandStatus> {
    await this.ensure().catch(() => undefined);
    return this.statusValue;
  }

  /**
   * A client with a usable session (open, or paused inside the relay's grace), waiting at
   * most `sessionWaitMs`. Throws SidebandHttpError at once when the state says it cannot
   * work (not paired, identity changed, revoked) or as soon as an attempt fails.
   */
  async acquire(signal: AbortSignal): Promise<SidebandClient> {
    const live = await this.ensure();
    if (!live) throw connectionFailure(this.terminalError());
    if (usable(live.client.state)) return live.client;
    if (live.client.state === 'closed') throw connectionFailure(live.failure?.error ?? this.terminalError());
    if (live.client.state === 'reconnecting' && Date.now() - this.lastWake >= WORKER_DEFAULTS.wakeIntervalMs) {
      this.lastWake = Date.now(); // a request is a user waiting: try now rather than after the backoff
      live.loop.wake();
    }
    return new Promise<SidebandClient>((resolve, reject) => {
      const stop = new AbortController();
      const done = (error?: unknown): void => {
        if (stop.signal.aborted) return;
        stop.abort();
        clearTimeout(timer);
        if (error !== undefined) reject(error);
        else resolve(live.client);
      };
      const timer = setTimeout(
        () => done(connectionFailure(Object.assign(new Error(`no session to the daemon within ${WORKER_DEFAULTS.sessionWaitMs} ms`), { code: live.client.state === 'paused' || live.client.state === 'pending' ? 'session_paused' : 'session_timeout' }))),
        WORKER_DEFAULTS.sessionWaitMs,
      );
      live.client.on('state', ({ state }) => {
        if (usable(state)) done();
        else if (state === 'closed') done(connectionFailure(live.failure?.error ?? this.terminalError()));
      }, { signal: stop.signal });
      live.client.on('disconnected', ({ error, retryInMs }) => done(connectionFailure(error, retryInMs)), { signal: stop.signal });
      signal.addEventListener('abort', () => done(signal.reason), { signal: stop.signal });
    });
  }

  /** Skips a backoff wait (the page saw the network come back). */
  wake(): void {
    this.live?.loop.wake();
  }

  /**
   * Pairs this browser with a Quick Connect code: a new non-extractable Ed25519 device key,
   * the redeem at the relay, the daemon's identity pinned from the answer (TOFU at pairing),
   * then a fresh connection. Throws with the control plane's code (`code_not_found`, …).
   */
  async pair(code: string, relay: string | undefined, label: string | undefined): Promise<SidebandStatus> {
    const relayUrl = relay ?? this.config.relay;
    if (!relayUrl) throw Object.assign(new Error('no relay URL: pass one to pair() or registerSideband({ relay })'), { code: 'invalid_config' });
    const store = await this.store();
    const key = await createDeviceKey();
    await this.stop();
    // A new pairing starts from a clean slate: a stale pin of another daemon must not block it.
    await store.forget();
    const paired = await redeemQuickConnectCode({ relay: relayUrl, code, devicePublicKey: toBase64Url(key.publicKey), label, pinStore: store.pins });
    await store.saveDevice({ ...paired, label, pairedAt: Date.now(), privateKey: key.privateKey, publicKey: toBase64Url(key.publicKey) });
    this.pendingOffer = undefined;
    return this.start();
  }

  /** Replaces the pin with the key the daemon offers now, if `offered` is its fingerprint. */
  async approveIdentity(offered: string): Promise<SidebandStatus> {
    const store = await this.store();
    const offer = this.pendingOffer ?? (await store.getPendingIdentity());
    if (!offer || fingerprint(offer.key) !== offered) {
      throw Object.assign(new Error('the daemon does not offer this fingerprint now; compare again'), { code: 'fingerprint_mismatch' });
    }
    await store.pins.approve(offer.daemonId, offer.key);
    await store.setPendingIdentity(undefined);
    this.pendingOffer = undefined;
    await this.stop();
    return this.start();
  }

  /** Deletes the device, pins and pending state; the browser must pair again. */
  async forget(): Promise<SidebandStatus> {
    await this.stop();
    await (await this.store()).forget();
    this.pendingOffer = undefined;
    this.setStatus({ state: 'needs-pairing', code: 'not_paired' });
    return this.statusValue;
  }

  private async ensure(): Promise<Live | undefined> {
    const live = this.live;
    if (live && !(live.stoppedAt !== undefined && this.retryableStop(live))) return live;
    this.starting ??= this.build().finally(() => (this.starting = undefined));
    return this.starting;
  }

  private retryableStop(live: Live): boolean {
    const code = errorCode(live.failure?.error);
    if (code === 'identity_key_changed' || code === 'device_revoked' || code === 'device_not_found') return false;
    // `forbidden` mid-session is how the relay ends a revoked device's session: the next token
    // request says whether this device is revoked (needs-pairing) or something else refused it.
    if (code === 'forbidden') return true;
    return Date.now() - (live.stoppedAt ?? 0) >= WORKER_DEFAULTS.terminalRetryMs;
  }

  private terminalError(): Error {
    const { code, message } = this.statusValue;
    return Object.assign(new Error(message ?? 'not connected'), { code: code ?? 'not_paired' });
  }

  private async build(): Promise<Live | undefined> {
    if (this.live) await this.stop();
    const store = await this.store();
    const device = await store.getDevice();
    if (!device) {
      this.setStatus({ state: 'needs-pairing', code: 'not_paired', message: 'pair this browser with a Quick Connect code' });
      return undefined;
    }
    const pending = await store.getPendingIdentity();
    if (pending && pending.daemonId === device.daemonId) {
      // Nothing reconnects until a page approves (sbrp.md §5); a restarted worker remembers.
      this.pendingOffer = pending;
      const pinned = await store.pins.get(device.daemonId);
      this.setStatus({ state: 'identity-changed', code: 'identity_key_changed', message: 'the daemon identity key changed', ...this.deviceFields(device, pinned), offeredFingerprint: fingerprint(pending.key) });
      return undefined;
    }
    const loop = new RelayClientLoop({
      relay: device.relayUrl,
      daemonId: device.daemonId,
      getToken: signedDeviceTokens(device, (message) => signWithDeviceKey(device.privateKey, message)),
      pinStore: store.pins,
      openSocket: browserSocketOpener(),
      aead: nobleAead,
    });
    const client = sidebandClient(loop, {
      sessionWaitMs: WORKER_DEFAULTS.sessionWaitMs,
      limits: { streamWindow: WORKER_DEFAULTS.streamWindow, sessionWindow: WORKER_DEFAULTS.sessionWindow },
      receiveCredit: { maxStreamWindow: WORKER_DEFAULTS.maxStreamWindow, sharedStreamWindow: WORKER_DEFAULTS.sharedStreamWindow, quietBytes: WORKER_DEFAULTS.quietBytes },
    });
    const live: Live = { device, loop, client };
    this.live = live;
    const pinned = await store.pins.get(device.daemonId);
    this.setStatus({ state: 'connecting', code: undefined, message: undefined, retryInMs: undefined, offeredFingerprint: undefined, ...this.deviceFields(device, pinned) });
    client.on('state', ({ state, error }) => {
      if (this.live !== live) return;
      if (state === 'closed') live.stoppedAt = Date.now();
      void this.onState(live, state, error);
    });
    client.on('open', ({ fingerprint: print }) => {
      if (this.live === live) this.setStatus({ state: usable(client.state) && client.state !== 'open' ? 'paused' : 'active', ...this.deviceFields(device), fingerprint: print });
    });
    client.on('disconnected', ({ error, retryInMs }) => {
      if (this.live !== live) return;
      live.failure = { error, retryInMs };
      if (retryInMs !== undefined) this.setStatus(this.failureStatus(error, retryInMs));
    });
    client.on('event', ({ name, data }) => {
      if (this.live === live) this.hooks.onEvent(name, data);
    });
    return live;
  }

  private async onState(live: Live, state: ClientState, error: Error | undefined): Promise<void> {
    switch (state) {
      case 'open':
        return this.setStatus({ state: 'active', code: undefined, message: undefined, retryInMs: undefined, offeredFingerprint: undefined });
      case 'paused':
      case 'pending':
        return this.setStatus({ state: 'paused', code: 'session_paused', message: 'the daemon dropped its connection; waiting for it to come back' });
      case 'connecting':
      case 'handshaking':
        if (this.statusValue.state === 'idle') this.setStatus({ state: 'connecting' });
        return;
      case 'reconnecting':
        return; // 'disconnected' carries the reason and the delay
      case 'closed': {
        const why = error ?? live.failure?.error;
        if (why instanceof IdentityKeyChangedError && why.offeredKey) {
          const offer = { daemonId: live.device.daemonId, key: why.offeredKey };
          this.pendingOffer = offer;
          await (await this.store()).setPendingIdentity(offer);
          return this.setStatus({ state: 'identity-changed', code: 'identity_key_changed', message: why.message, fingerprint: why.pinnedFingerprint, offeredFingerprint: why.offeredFingerprint });
        }
        if (why) this.setStatus(this.failureStatus(why, undefined));
        if (errorCode(why) === 'forbidden') void this.ensure().catch(() => undefined); // find out why, once (retryableStop)
        return;
      }
    }
  }

  private failureStatus(error: Error, retryInMs: number | undefined): Partial<SidebandStatus> & { state: SidebandState } {
    const http = connectionFailure(error, retryInMs);
    const code = http.code;
    const state: SidebandState =
      code === 'device_revoked' || code === 'device_not_found' ? 'needs-pairing' : code === 'identity_key_changed' ? 'identity-changed' : code === 'daemon_offline' || retryInMs === undefined ? 'offline' : 'reconnecting';
    return { state, code, message: http.message, retryInMs };
  }

  private deviceFields(device: StoredDevice, pinned?: Uint8Array): Partial<SidebandStatus> {
    const key = pinned ?? decodeIdentityKey(device.daemonIdentityPublicKey);
    return { daemonId: device.daemonId, deviceId: device.deviceId, relayUrl: device.relayUrl, ...(key ? { fingerprint: fingerprint(key) } : {}) };
  }

  private setStatus(change: Partial<SidebandStatus> & { state: SidebandState }): void {
    const next: SidebandStatus = { ...this.statusValue, ...change, bootId: this.hooks.bootId, aead: this.hooks.aead };
    for (const key of Object.keys(next) as (keyof SidebandStatus)[]) if (next[key] === undefined) delete next[key];
    if (JSON.stringify(next) === JSON.stringify(this.statusValue)) return;
    this.statusValue = next;
    this.hooks.onStatus(next);
  }

  private async stop(): Promise<void> {
    const live = this.live;
    this.live = undefined;
    if (live) await live.client.close();
  }

  private store(): Promise<SidebandStore> {
    return this.hooks.store();
  }
}

function usable(state: ClientState): boolean {
  return state === 'open' || state === 'paused' || state === 'pending';
}


export { SidebandHttpError };
