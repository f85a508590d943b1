import { afterEach, describe, expect, it, vi } from 'vitest';
import { boundedLogger } from './bounded-logger.js';
import type { RelayLogger } from './logger.js';
import { eventually, TestRelay } from './testing/harness.js';

/** Info logging of connections, sessions and refusals: useful lines, never a token, bounded. */

interface Line {
  level: string;
  message: string;
  fields?: Record<string, unknown>;
}
const recorder = (): { logger: RelayLogger; lines: Line[] } => {
  const lines: Line[] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, fields });
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
};

describe('boundedLogger', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('passes maxLines per interval, then summarizes the rest by message when the interval ends', () => {
    vi.useFakeTimers();
    let now = 0;
    const { logger, lines } = recorder();
    const log = boundedLogger(logger, 3, 1000, () => now);
    for (let i = 0; i < 1000; i++) log.info(i % 2 ? 'upgrade refused' : 'request refused', { i });
    log.error('relay fault');
    log.debug('debug is not capped');
    expect(lines.map((l) => l.message)).toEqual(['request refused', 'upgrade refused', 'request refused', 'debug is not capped']);
    vi.advanceTimersByTime(1000); // the summary comes even if nothing else is logged
    expect(lines.at(-1)).toEqual({
      level: 'warn',
      message: 'log lines suppressed',
      fields: { suppressed: 998, intervalMs: 1000, byMessage: { 'upgrade refused': 499, 'request refused': 498, 'relay fault': 1 } },
    });
    now = 1000;
    log.info('next window');
    expect(lines.at(-1)!.message).toBe('next window');
    expect(lines.filter((l) => l.message === 'log lines suppressed')).toHaveLength(1);
    log.close();
    log.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('flushes a pending summary on close, and holds at most one timer', () => {
    vi.useFakeTimers();
    const { logger, lines } = recorder();
    const log = boundedLogger(logger, 1, 60_000, () => 0);
    for (let i = 0; i < 50; i++) log.warn('w');
    expect(vi.getTimerCount()).toBe(1);
    log.close();
    expect(vi.getTimerCount()).toBe(0);
    expect(lines.map((l) => [l.message, l.fields?.suppressed])).toEqual([['w', undefined], ['log lines suppressed', 49]]);
  });
});

describe('relay info lines', () => {
  let t: TestRelay | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('report daemon and session lifecycle and refusals with ids only, never a token', async () => {
    const { logger, lines } = recorder();
    t = await TestRelay.start({ logger });
    const daemon = await t.onlineDaemon();
    const { token, sessionId } = await t.clientToken(daemon.daemonId);
    const client = await t.open(token);
    await eventually(() => lines.some((l) => l.message === 'session opened'));
    client.ws.close();
    await eventually(() => lines.some((l) => l.message === 'session closed'));
    const refused = await t.connect({ token: 'not.a.token', viaQuery: true });
    expect(refused).toMatchObject({ ok: false, status: 401 });
    daemon.peer.ws.close();
    await eventually(() => lines.some((l) => l.message === 'daemon offline'));

    const info = lines.filter((l) => l.level === 'info');
    const sid = sessionId.toString(10);
    expect(info).toEqual(expect.arrayContaining([
      expect.objectContaining({ message: 'daemon online', fields: expect.objectContaining({ daemonId: daemon.daemonId }) }),
      expect.objectContaining({ message: 'daemon connected', fields: expect.objectContaining({ daemonId: daemon.daemonId }) }),
      expect.objectContaining({ message: 'client connected', fields: expect.objectContaining({ daemonId: daemon.daemonId, sessionId: sid }) }),
      expect.objectContaining({ message: 'session opened', fields: expect.objectContaining({ daemonId: daemon.daemonId, sessionId: sid }) }),
      expect.objectContaining({ message: 'session closed', fields: expect.objectContaining({ sessionId: sid, reason: 'client_left' }) }),
      expect.objectContaining({ message: 'upgrade refused', fields: { status: 401, code: 'unauthorized', reason: 'malformed' } }),
      expect.objectContaining({ message: 'daemon offline', fields: expect.objectContaining({ daemonId: daemon.daemonId }) }),
    ]));
    const text = JSON.stringify(lines);
    expect(text).not.toContain(token);
    expect(text).not.toContain('not.a.token');
    expect(text).not.toContain(daemon.apiKey);
  });

  it('cap a refusal flood and say how much was dropped', async () => {
    const { logger, lines } = recorder();
    t = await TestRelay.start({ logger, limits: { maxLogLines: 5, logIntervalMs: 200 } });
    for (let i = 0; i < 30; i++) expect(await t.connect({ token: `bad${i}` })).toMatchObject({ ok: false, status: 401 });
    await t.close(); // flushes the last summary
    const summaries = lines.filter((l) => l.message === 'log lines suppressed');
    const passed = lines.filter((l) => l.message === 'upgrade refused').length;
    const dropped = summaries.reduce((n, l) => n + ((l.fields!.byMessage as Record<string, number>)['upgrade refused'] ?? 0), 0);
    expect(summaries.length).toBeGreaterThan(0);
    expect(passed).toBeLessThan(30);
    expect(passed + dropped).toBe(30); // every refusal is either a line or counted in a summary
  });
});
