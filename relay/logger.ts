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
    // Callers redact already; this is the safety net for a `url` field that was not.
    const safe = typeof fields?.url === 'string' ? { ...fields, url: redactUrl(fields.url) } : fields;
    out.write(`${JSON.stringify({ time: new Date().toISOString(), level, message, ...safe })}\n`);
  };
  return { debug: verbose ? line('debug') : noop, info: line('info'), warn: line('warn'), error: line('error') };
}

/**
 * Replaces the value of every query parameter whose **decoded** name is `token`, in any case,
 * with `[redacted]` (sbrp.md §4: redact the `token` query parameter in every log line).
 *
 * The relay reads `?token=` through a URL parser, which percent-decodes names, so `?%74oken=`
 * and `?to%6Ben=` carry a working token and must be redacted as well; matching the raw text
 * alone leaked them. Works on absolute, path-only and malformed URLs without throwing: after
 * the first `?` the text is split on `&`, `;`, `#` and `?` (broader than any parser, so a token
 * hidden behind a stray `#` or `;` is also caught), each name is decoded leniently (only `%XX`
 * of ASCII bytes, which is all `token` can be spelled with; a malformed `%zz` stays as is), and
 * a part whose decoded text starts with `token=` (an encoded `=`, `?%74oken%3Dabc`) is
 * redacted whole.
 *
 * @example redactUrl('/v1/connect?%74oken=eyJ') // '/v1/connect?%74oken=[redacted]'
 */
export function redactUrl(url: string): string {
  const start = url.indexOf('?');
  if (start === -1) return url;
  const parts = url.slice(start + 1).split(/([&;#?])/);
  for (let i = 0; i < parts.length; i += 2) {
    const part = parts[i]!;
    const eq = part.indexOf('=');
    const name = eq === -1 ? part : part.slice(0, eq);
    const decodedName = decodeAscii(name).trim().toLowerCase();
    if (decodedName === 'token') parts[i] = `${name}=[redacted]`;
    else if (decodeAscii(part).trim().toLowerCase().startsWith('token=')) parts[i] = '[redacted]';
  }
  return `${url.slice(0, start + 1)}${parts.join('')}`;
}

/** `+` → space and `%XX` of an ASCII byte → that character; anything malformed is kept. */
function decodeAscii(text: string): string {
  return text.replace(/\+/g, ' ').replace(/%([0-7][0-9a-fA-F])/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}
