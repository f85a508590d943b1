/**
 * The page library's settings in one object (style.md §8). The first group are the documented
 * `RegisterOptions` defaults; the rest are fixed limits and timings, each with the reason for
 * its value.
 */
export const PAGE_DEFAULTS = Object.freeze({
  scriptUrl: '/sideband-sw.js',
  scope: '/',
  prefix: '/sideband/',
  /**
   * A worker stops ~30 s after its last event; each `postMessage` to it is an event
   * (service-worker.md "Lifetime"), so 15 s keeps it alive with one beat of slack.
   */
  heartbeatMs: 15_000,
  /** How long to wait for `clients.claim()` to make this page controlled. */
  controlTimeoutMs: 5_000,
  /** A request on a reply port (hello, pair, forget, …) fails `worker_timeout` after this. */
  replyTimeoutMs: 10_000,
  /**
   * `navigator.serviceWorker.ready` never settles when installation fails; without a bound
   * `registerSideband()` would hang forever instead of saying so.
   */
  activateTimeoutMs: 30_000,
  /**
   * Lane messages do not extend a worker's lifetime and do not wake a stopped one. When the
   * page has not messaged the controller for this long (a hidden tab stops its heartbeat), a
   * hello goes first so a restarted worker is found before a call is lost in a dead port.
   * Below the ~30 s idle stop.
   */
  laneStaleMs: 20_000,
  /**
   * A call or channel-open unanswered for this long triggers one hello. A worker stopped by the
   * browser leaves the lane's port silently dead (Chromium fires no `close` on it, measured), so
   * without this a call would wait for the next heartbeat to notice; with it, it fails
   * `worker_restarted` (or is retried, when safe) within about this time.
   */
  laneProbeMs: 1_000,
  /**
   * Channel messages consumed before an ack goes out. Must stay below LANE_CHANNEL_WINDOW:
   * then the worker can never run out of credit while the page holds messages it could consume.
   */
  ackBatch: 16,
  /** `send`s awaiting `channel-sent` on one channel; past it the channel fails (no unbounded queue). */
  maxPendingSends: 1024,
  /**
   * A broadcast arrives twice (BroadcastChannel and client postMessage); a copy from the other
   * path within this window is treated as the same message.
   */
  dedupeWindowMs: 2_000,
  /** Unmatched broadcast copies remembered for dedupe (bounded, style.md §7). */
  dedupeMaxEntries: 256,
  /** sessionStorage key guarding the one reload that fixes a hard-reloaded, uncontrolled page. */
  reloadFlagKey: 'sideband:control-reload',
});
