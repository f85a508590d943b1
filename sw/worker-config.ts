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
   * Receive windows (docs/protocol.md §5): how many body bytes the daemon may have in flight
   * towards this browser per stream and in all. Every byte in flight sits in a FIFO (relay,
   * sockets, the browser's WebSocket) in front of the slowest stage, so a small response to
   * another tab waits behind a download's bytes in flight: about window ÷ download rate (issue
   * 9, `npx tsx bench/browser-profile.ts loaded`: with the window grown to 1 MiB every small
   * request took ~35 ms at ~30 MB/s; at 128 KiB, p50 ~12 ms; held at 32 KiB, p50 ~7 ms, on
   * the same busy 2 cores). So (protocol/stream/receive-credit.ts):
   * - `streamWindow` is what the worker announces. It also bounds a channel message
   *   (`maxMessageBytes` ≤ window − 256), so it stays at 128 KiB;
   * - `sharedStreamWindow`: while another stream is busy, an HTTP body's credit in the
   *   daemon's hands is held to this. The download beside a stream of small requests then runs
   *   at about this ÷ round trip (~10 MB/s there instead of ~20): its tab waits so the others
   *   do not;
   * - `quietBytes`: "busy" and "shared" last this many bytes read after a stream opened or last
   *   read, so back-to-back requests keep the window shared between them (a ~1 ms gap; 256 KiB
   *   is ~20 ms of the shared download), an occasional poll costs a download only that much at
   *   the shared rate, and an open but silent channel or event stream stops holding it down;
   * - `maxStreamWindow`: a download alone (for a whole window read) grows to this, the session
   *   window with it, so it is not bound by credit round trips.
   */
  streamWindow: 128 * 1024,
  sessionWindow: 1024 * 1024,
  maxStreamWindow: 1024 * 1024,
  sharedStreamWindow: 32 * 1024,
  quietBytes: 256 * 1024,
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
