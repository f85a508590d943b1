import type { SidebandStatus } from '../sw/messages.js';

/**
 * Every failure the page library reports (style.md §5: branch on `code`, never on `message`).
 * Codes from the worker (its Reply, `call-error`, `channel-closed`) pass through unchanged
 * (`not_paired`, `daemon_offline`, `channel_refused`, `response_too_large`, …); the library's own:
 *
 * | code | meaning |
 * | --- | --- |
 * | invalid_options | a `registerSideband()` option cannot work (a malformed prefix, a non-positive timeout) |
 * | register_failed | the browser refused to register the worker script (see the message) |
 * | unsupported | no service worker in this browser or context (not a secure context?) |
 * | not_controlled | the page did not come under the worker's control (hard reload): reload normally |
 * | version_mismatch | page library and worker speak different message versions: reload |
 * | worker_timeout | the worker did not answer a request in time |
 * | worker_restarted | the worker restarted: calls and channels on the old lane are gone |
 * | page_hidden | the page was hidden (`pagehide`): the worker dropped its lane |
 * | bad_response | the worker answered something this library cannot read |
 * | flow_control | a channel exceeded a buffer bound (the worker's window or pending sends) |
 * | channel_closed | `send` on a channel that is closed or closing |
 * | closed | `Sideband.close()` was called |
 *
 * @example
 *   try { await sideband.pair(code); }
 *   catch (error) { if (error instanceof SidebandError && error.code === 'invalid_code') askAgain(); }
 */
export class SidebandError extends Error {
  override readonly name = 'SidebandError';
  constructor(
    readonly code: string,
    message: string,
    /** The worker's status when it sent one with the failure. */
    readonly status?: SidebandStatus,
  ) {
    super(message);
  }
}
