import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Emitter } from '../web/emitter.js';
import type { DaemonEvents } from './daemon-types.js';
import { logSessions, SessionLog } from './session-log.js';

describe('SessionLog', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes at most maxLines per interval, then one summary line when the interval ends', () => {
    const lines: string[] = [];
    const log = new SessionLog((line) => lines.push(line), { maxLines: 3, intervalMs: 10_000 });
    for (let i = 1; i <= 1000; i++) {
      log.sessionOpened(BigInt(i));
      log.sessionClosed(BigInt(i), 'ended');
    }
    expect(lines).toEqual(['session 1 open', 'session 1 closed (ended)', 'session 2 open']);
    vi.advanceTimersByTime(10_000);
    expect(lines).toHaveLength(4);
    expect(lines[3]).toBe('… and 998 more sessions opened, 999 closed in the last 10 s');
    // A new interval writes lines again.
    log.sessionOpened(0xabcn);
    expect(lines[4]).toBe('session abc open');
    log.close();
    expect(lines).toHaveLength(5); // nothing suppressed, so no summary
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stays quiet when nothing happens, and close() writes the pending summary once', () => {
    const lines: string[] = [];
    const log = new SessionLog((line) => lines.push(line), { maxLines: 1, intervalMs: 5_000 });
    vi.advanceTimersByTime(60_000);
    expect(lines).toEqual([]);
    log.sessionOpened(1n);
    log.sessionOpened(2n);
    log.close();
    log.close();
    expect(lines).toEqual(['session 1 open', '… and 1 more sessions opened, 0 closed in the last 5 s']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('logSessions follows a connection’s events and stops cleanly', () => {
    const events = new Emitter<DaemonEvents>();
    const lines: string[] = [];
    const stop = logSessions(events, (line) => lines.push(line), { maxLines: 2 });
    for (let i = 1; i <= 5; i++) events.emit('session_open', { sessionId: BigInt(i) });
    events.emit('session_closed', { sessionId: 1n, reason: 'replays' });
    stop();
    events.emit('session_open', { sessionId: 9n });
    expect(lines).toEqual(['session 1 open', 'session 2 open', '… and 3 more sessions opened, 1 closed in the last 10 s']);
  });
});
