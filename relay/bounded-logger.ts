import type { RelayLogger } from './logger.js';

export interface BoundedLogger extends RelayLogger {
  /** Writes the pending summary (if any) and stops its timer. Idempotent. */
  close(): void;
}

/**
 * Caps the info, warn and error lines a relay writes (hardening issue: connections, sessions and
 * refusals deserve a line, bounded). At most `maxLines` per `intervalMs` reach `inner`; the rest
 * are counted by message, and when the window ends one `warn` line, `log lines suppressed`,
 * says how many of each were dropped (its `byMessage` is bounded: messages are fixed strings of
 * the relay, never request data). `debug` is not capped: it is off unless asked for.
 *
 * @example const log = boundedLogger(jsonLineLogger(process.stderr, false), 100, 10_000, Date.now);
 */
export function boundedLogger(inner: RelayLogger, maxLines: number, intervalMs: number, now: () => number): BoundedLogger {
  let windowStart = -Infinity;
  let written = 0;
  let suppressed = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;

  const flush = (): void => {
    clearTimeout(timer);
    timer = undefined;
    if (suppressed.size === 0) return;
    const byMessage = Object.fromEntries(suppressed);
    const total = [...suppressed.values()].reduce((a, b) => a + b, 0);
    suppressed = new Map();
    inner.warn('log lines suppressed', { suppressed: total, intervalMs, byMessage });
  };

  const capped = (write: RelayLogger['info']) => (message: string, fields?: Record<string, unknown>): void => {
    const t = now();
    if (t - windowStart >= intervalMs) {
      flush();
      windowStart = t;
      written = 0;
    }
    if (written < maxLines) {
      written++;
      write.call(inner, message, fields);
      return;
    }
    suppressed.set(message, (suppressed.get(message) ?? 0) + 1);
    // The summary must come even if nothing else is logged afterwards.
    timer ??= setTimeout(flush, Math.max(1, windowStart + intervalMs - t)).unref();
  };

  return {
    debug: (message, fields) => inner.debug(message, fields),
    info: capped(inner.info),
    warn: capped(inner.warn),
    error: capped(inner.error),
    close: flush,
  };
}
