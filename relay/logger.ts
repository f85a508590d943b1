/**
 * Logging seam of the relay. The relay never logs payload bytes or tokens (sbrp.md §4, §5):
 * anything that may carry a URL goes through `redactUrl` first.
 */
export interface RelayLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const noop = (): void => {};

/** The default for the library: say nothing. */
export const silentLogger: RelayLogger = Object.freeze({ debug: noop, info: noop, warn: noop, error: noop });

/**
 * One JSON object per line on stderr, for the CLI. `debug` lines only when `verbose` is on.
 *
 * @example const log = jsonLineLogger(process.stderr, false); log.info('listening', { port: 8787 });
 */
export function jsonLineLogger(out: { write(line: string): unknown }, verbose: boolean): RelayLogger {
  const line = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    out.write(`${JSON.stringify({ time: new Date().toISOString(), level, message, ...fields })}\n`);
  };
  return { debug: verbose ? line('debug') : noop, info: line('info'), warn: line('warn'), error: line('error') };
}

/**
 * Replaces the value of every `token` query parameter with `[redacted]` (sbrp.md §4: redact the
 * `token` query parameter in every log line). Works on absolute and path-only URLs, and on
 * malformed ones, by plain text substitution rather than a URL parser that could throw.
 */
export function redactUrl(url: string): string {
  return url.replace(/([?&;]token=)[^&#;]*/gi, '$1[redacted]');
}
