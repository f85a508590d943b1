import type { SidebandStatus } from '../sw/messages.js';
import type { CallInit } from './lane-codec.js';
import type { SidebandChannel } from './sideband-channel.js';

/** A daemon push event, as every tab receives it. */
export interface SidebandEvent {
  name: string;
  data: unknown;
}

/**
 * The page's handle on the service worker, from `registerSideband()`. Plain
 * `fetch('/sideband/...')` needs none of it; it adds status, events, pairing and trust, and the
 * MessagePort fast lane (`call`, `channel`).
 *
 * @example
 *   const sideband = await registerSideband();
 *   sideband.on('status', (status) => render(status.state));
 *   if (sideband.status.state === 'needs-pairing') await sideband.pair(prompt('Quick Connect code') ?? '');
 *   const hello = await (await sideband.call('/api/hello')).json();
 */
export interface Sideband {
  /** The latest status the worker reported. */
  readonly status: SidebandStatus;
  /** Status changes (each distinct one once) and daemon events. Returns a remover. */
  on(type: 'status', listener: (status: SidebandStatus) => void): () => void;
  on(type: 'event', listener: (event: SidebandEvent) => void): () => void;
  /** Pairs this browser with a Quick Connect code; rejects SidebandError with the worker's code. */
  pair(code: string, options?: { label?: string; relay?: string }): Promise<SidebandStatus>;
  /**
   * The pinned daemon identity. `offered()` is the key the daemon presents while the state is
   * `identity-changed`; `approve()` pins it after the user compared it out of band.
   */
  readonly trust: {
    fingerprint(): string | undefined;
    offered(): string | undefined;
    approve(fingerprint: string): Promise<SidebandStatus>;
  };
  /**
   * A request over the fast lane (~0.1 ms to the worker instead of ~2.5 ms for a fetch). `path`
   * is the daemon's own (`'/api/hello'`, no `/sideband/` prefix). Bodies travel whole: use
   * `fetch` for large or streamed ones. If the worker restarts with the call in flight, a
   * GET/HEAD/OPTIONS is sent once more; anything else rejects with `worker_restarted`.
   */
  call(path: string, init?: CallInit): Promise<Response>;
  /** Opens a WebSocket-like channel to the daemon path. */
  channel(path: string, options?: { headers?: HeadersInit }): Promise<SidebandChannel>;
  /** Removes the device credentials and pins from this browser. */
  forget(): Promise<void>;
  /** Stops the heartbeat, listeners and the lane (its channels close with `closed`). Idempotent. */
  close(): void;
}
