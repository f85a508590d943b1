import type { DaemonEvents } from './daemon-types.js';

/**
 * Bounded session logging (hardening issue: "the daemon logs two lines per session without
 * limit"). Up to `maxLines` open/close lines per `intervalMs` are written as they happen; past
 * that they are counted, and one summary line closes the interval:
 * `… and 1523 more sessions opened, 1519 closed in the last 10 s`. So a burst of clients costs
 * the log at most `maxLines + 1` lines per interval, and no line is lost silently.
 *
 *   const stop = logSessions(server, (line) => process.stdout.write(`${line}\n`));
 *   // …
 *   stop(); // writes the pending summary, removes the listeners and the timer
 */
export interface SessionLogOptions {
  /** Lines written as they happen per interval (default 20). */
  maxLines: number;
  /** Length of one interval (default 10 s). */
  intervalMs: number;
}

export const SESSION_LOG_DEFAULTS: Readonly<SessionLogOptions> = Object.freeze({ maxLines: 20, intervalMs: 10_000 });

export class SessionLog {
  private readonly options: SessionLogOptions;
  private lines = 0;
  private opened = 0;
  private closed = 0;
  private timer?: ReturnType<typeof setTimeout>;

  constructor(
    private readonly out: (line: string) => void,
    options: Partial<SessionLogOptions> = {},
  ) {
    this.options = { ...SESSION_LOG_DEFAULTS, ...options };
  }

  sessionOpened(sessionId: bigint): void {
    if (this.admit()) this.out(`session ${sessionId.toString(16)} open`);
    else this.opened++;
  }

  sessionClosed(sessionId: bigint, reason: string): void {
    if (this.admit()) this.out(`session ${sessionId.toString(16)} closed (${reason})`);
    else this.closed++;
  }

  /** Writes the pending summary now and stops the timer; idempotent. */
  close(): void {
    this.endInterval();
  }

  /** Whether one more line fits this interval; the first line of an interval starts its timer. */
  private admit(): boolean {
    if (!this.timer) {
      this.timer = setTimeout(() => this.endInterval(), this.options.intervalMs);
      this.timer.unref?.(); // a log never keeps the process alive
    }
    if (this.lines >= this.options.maxLines) return false;
    this.lines++;
    return true;
  }

  private endInterval(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.lines = 0;
    if (this.opened + this.closed === 0) return;
    const seconds = Math.round(this.options.intervalMs / 1000);
    this.out(`… and ${this.opened} more sessions opened, ${this.closed} closed in the last ${seconds} s`);
    this.opened = 0;
    this.closed = 0;
  }
}

/**
 * Logs the sessions of a daemon connection or listener through a SessionLog. Returns a stop
 * function that writes the pending summary and removes the listeners.
 */
export function logSessions(
  source: { on<K extends 'session_open' | 'session_closed'>(type: K, listener: (event: DaemonEvents[K]) => void): () => void },
  out: (line: string) => void,
  options: Partial<SessionLogOptions> = {},
): () => void {
  const log = new SessionLog(out, options);
  const offOpen = source.on('session_open', ({ sessionId }) => log.sessionOpened(sessionId));
  const offClosed = source.on('session_closed', ({ sessionId, reason }) => log.sessionClosed(sessionId, reason));
  return () => {
    offOpen();
    offClosed();
    log.close();
  };
}
