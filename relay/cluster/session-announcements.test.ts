import { describe, expect, it } from 'vitest';
import { SessionAnnouncements } from './session-announcements.js';

/** Upgrades waiting for the owner's sessionOpened: answered once, bounded, never left hanging. */

describe('session announcements', () => {
  it('settles each waiting upgrade once, by session or for a whole daemon', async () => {
    const waiting = new SessionAnnouncements(60_000, 10);
    const one = waiting.wait('d1', 1n);
    const two = waiting.wait('d1', 2n);
    const other = waiting.wait('d2', 3n);
    expect(waiting.answer('d2', 1n, { kind: 'ok' })).toBe(false); // another daemon's answer does not settle it
    expect(waiting.answer('d1', 1n, { kind: 'ok' })).toBe(true);
    expect(waiting.answer('d1', 1n, { kind: 'gone' })).toBe(false);
    waiting.answerDaemon('d1', { kind: 'moved', owner: { node: 'n2', epoch: 7n } });
    expect(await one).toEqual({ kind: 'ok' });
    expect(await two).toEqual({ kind: 'moved', owner: { node: 'n2', epoch: 7n } });
    waiting.close();
    expect(await other).toEqual({ kind: 'timeout' });
    expect(waiting.size).toBe(0);
  });

  it('answers timeout when the owner stays silent', async () => {
    const waiting = new SessionAnnouncements(20, 10);
    expect(await waiting.wait('d1', 1n)).toEqual({ kind: 'timeout' });
    expect(waiting.size).toBe(0);
  });

  it('refuses to wait past its bound, and for a session already waiting', async () => {
    const waiting = new SessionAnnouncements(60_000, 2);
    const kept = [waiting.wait('d1', 1n), waiting.wait('d1', 2n)];
    expect(await waiting.wait('d1', 3n)).toEqual({ kind: 'timeout' });
    expect(await waiting.wait('d1', 1n)).toEqual({ kind: 'timeout' });
    expect(waiting.size).toBe(2);
    waiting.close();
    expect(await Promise.all(kept)).toEqual([{ kind: 'timeout' }, { kind: 'timeout' }]);
  });
});
