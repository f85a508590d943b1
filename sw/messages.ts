/**
 * The page ↔ service worker message protocol, in one file (style.md §6). Every message is
 * `{ v, type, ... }`; requests that expect an answer carry a `MessagePort` (transferred) and
 * get exactly one `Reply` on it. Both sides refuse a message whose `v` is not theirs, loudly:
 * a page built against another worker version must reload, not misread the other.
 */
export const MESSAGE_PROTOCOL_VERSION = 1;

/** The BroadcastChannel every tab of the origin listens on. */
export const BROADCAST_CHANNEL = 'sideband';

/**
 * What every tab sees (design.md): `connecting`, `active`, `paused` (daemon dropped, inside
 * the relay's grace), `reconnecting`, `offline` (daemon not connected to the relay, or the
 * relay unreachable), `needs-pairing` (no device, or it was revoked), `identity-changed`
 * (the daemon key differs from the pin: approve or not), and `idle` before the first use.
 */
export type SidebandState = 'idle' | 'connecting' | 'active' | 'paused' | 'reconnecting' | 'offline' | 'needs-pairing' | 'identity-changed';

export interface SidebandStatus {
  state: SidebandState;
  /** Stable error code of the last failure (`daemon_offline`, `relay_unreachable`, `device_revoked`, …). */
  code?: string;
  message?: string;
  /** Milliseconds until the next attempt, while reconnecting/offline. */
  retryInMs?: number;
  daemonId?: string;
  deviceId?: string;
  relayUrl?: string;
  /** Fingerprint of the pinned daemon identity key (`SHA256:AB:…`). */
  fingerprint?: string;
  /** While `identity-changed`: the key the daemon presents now, to compare and approve. */
  offeredFingerprint?: string;
  /** A new id for each worker instance: a change tells pages the worker restarted. */
  bootId: string;
  /** `native` when WebCrypto has ChaCha20-Poly1305, else `noble`; what the session uses. */
  aead: 'native' | 'noble';
}

/** Page → worker (through `navigator.serviceWorker.controller.postMessage`). */
export type PageMessage =
  | { v: number; type: 'hello'; port: MessagePort }
  | { v: number; type: 'heartbeat' }
  | { v: number; type: 'wake' }
  | { v: number; type: 'pair'; code: string; relay?: string; label?: string; port: MessagePort }
  | { v: number; type: 'approve-identity'; fingerprint: string; port: MessagePort }
  | { v: number; type: 'forget'; port: MessagePort }
  | { v: number; type: 'claim'; port: MessagePort }
  /** Diagnostics: Reply.result is WorkerStats. */
  | { v: number; type: 'stats'; port: MessagePort }
  /** Hands the worker a port for the fast lane (lane-messages below). */
  | { v: number; type: 'lane'; port: MessagePort };

export type Reply = { ok: true; status: SidebandStatus; result?: unknown } | { ok: false; code: string; message: string; status?: SidebandStatus };

export interface WorkerStats {
  /** Fetch events outside the prefix that reached the worker (0 where static routing keeps them away). */
  passedThrough: number;
  /** Fetch events the worker answered. */
  answered: number;
  lanes: number;
  /** Whether `InstallEvent.addRoutes` took the app's other paths off the worker. */
  staticRouting: boolean;
}

/** Worker → tabs, on the BroadcastChannel and to each client with `postMessage`. */
export type WorkerBroadcast =
  | { v: number; type: 'status'; status: SidebandStatus }
  | { v: number; type: 'event'; name: string; data: unknown };

/**
 * The fast lane, over a dedicated MessagePort per page (design.md: ~0.1 ms a round trip
 * against ~2.5 ms for a fetch through the worker). `id` is chosen by the page and unique
 * among its open calls and channels.
 */
export type LaneRequest =
  | { type: 'call'; id: number; method: string; path: string; headers: [string, string][]; body?: ArrayBuffer }
  | { type: 'channel-open'; id: number; path: string; headers: [string, string][] }
  | { type: 'channel-send'; id: number; data: string | ArrayBuffer }
  /** The page consumed `count` messages: the worker may deliver that many more (credit). */
  | { type: 'channel-ack'; id: number; count: number }
  | { type: 'channel-close'; id: number }
  | { type: 'bye' };

export type LaneResponse =
  | { type: 'call-result'; id: number; status: number; headers: [string, string][]; body: ArrayBuffer }
  | { type: 'call-error'; id: number; code: string; message: string }
  | { type: 'channel-opened'; id: number }
  | { type: 'channel-message'; id: number; data: string | ArrayBuffer }
  | { type: 'channel-sent'; id: number }
  | { type: 'channel-closed'; id: number; code?: string; message?: string };

/** Messages a page may have in flight on a channel before it acks (the worker stops reading). */
export const LANE_CHANNEL_WINDOW = 64;
