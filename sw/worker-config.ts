/**
 * The worker's settings: what the page passed in the script URL (`?prefix=&relay=`, read once
 * at start, synchronously) and the fixed defaults (style.md §8: one object).
 */
export interface WorkerConfig {
  /** Path prefix the worker answers, with leading and trailing slash (default `/sideband/`). */
  prefix: string;
  /** Relay base URL used for pairing when the page names none. */
  relay?: string;
}

export const WORKER_DEFAULTS = Object.freeze({
  prefix: '/sideband/',
  /** Longest a request waits for a session (connecting, reconnecting) before a clear error. */
  sessionWaitMs: 15_000,
  /**
   * Request bodies the browser gives only whole (Firefox has no `request.body`): buffered up to
   * this, `413 body_too_large` beyond. Chromium streams them and has no such limit.
   */
  maxBufferedBodyBytes: 64 * 1024 * 1024,
  /** A request in backoff wakes the loop (skips the wait) at most this often. */
  wakeIntervalMs: 1_000,
  /** A stopped loop (a terminal error that pairing or trust does not fix) is retried after this. */
  terminalRetryMs: 10_000,
  /** Fast-lane `call` answers are buffered whole up to this; larger ones fail `response_too_large`. */
  maxCallResponseBytes: 16 * 1024 * 1024,
  /**
   * Receive windows the worker announces (docs/protocol.md §5): how many body bytes the daemon
   * may have in flight towards this browser per stream and in all. Every byte in flight sits in
   * a FIFO (relay, sockets, the browser's WebSocket) in front of the slowest stage, so a small
   * response to another tab waits behind up to a window of a download: about window ÷ download
   * rate (1 MiB at ~40 MB/s: ~25 ms per request; issue 9, `npx tsx bench/browser-profile.ts
   * loaded`). A small announced window keeps that wait short; a lone download would pay for it
   * in credit round trips, so once it has read a whole window alone its window grows to
   * `maxStreamWindow` (the session's by the same extra), and shrinks back the moment another
   * request is in flight (protocol/stream/receive-credit.ts). Measured (`npm run bench -- --only
   * browser`, 2 busy cores): 256 → 128 KiB took the p99 beside a download from 33.5 to 30.5 ms
   * (within the noise; the rest of that p99 is the worker's CPU, not the window), the lone
   * download unchanged at ~45 MB/s.
   */
  streamWindow: 128 * 1024,
  sessionWindow: 1024 * 1024,
  maxStreamWindow: 1024 * 1024,
  /** Fast lanes (one per page) and channels per lane. */
  maxLanes: 256,
  maxChannelsPerLane: 64,
});

/** Reads the config from the worker script's URL; a bad prefix falls back to the default. */
export function readWorkerConfig(scriptUrl: string): WorkerConfig {
  const params = new URL(scriptUrl).searchParams;
  const prefix = params.get('prefix');
  const relay = params.get('relay') ?? undefined;
  return { prefix: isPrefix(prefix) ? prefix : WORKER_DEFAULTS.prefix, ...(relay && isHttpUrl(relay) ? { relay } : {}) };
}

function isPrefix(value: string | null): value is string {
  return value !== null && value.length <= 256 && /^\/([A-Za-z0-9._~-]+\/)+$/.test(value);
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}
