/**
 * Unit tests of status and broadcast deduplication (pure logic, under Node). That each worker
 * broadcast really arrives on both paths is tested in the browser end-to-end tests.
 */
import { describe, expect, it } from 'vitest';
import type { SidebandStatus } from '../sw/messages.js';
import { BroadcastDedupe, noticeKey } from './broadcast-dedupe.js';
import { StatusTracker } from './status-tracker.js';

const active: SidebandStatus = { state: 'active', bootId: 'b1', aead: 'native' };
const offline: SidebandStatus = { state: 'offline', code: 'daemon_offline', bootId: 'b1', aead: 'native' };

describe('StatusTracker', () => {
  it('reports each distinct status once', () => {
    const tracker = new StatusTracker();
    expect([active, { ...active }, offline, offline, active].map((status) => tracker.update(status))).toEqual([true, false, true, false, true]);
    expect(tracker.current).toEqual(active);
  });
});

describe('BroadcastDedupe', () => {
  const key = (status: SidebandStatus) => noticeKey({ type: 'status', status } as { type: string });

  it('lets one copy of each message through when both paths deliver it, even interleaved', () => {
    let now = 0;
    const dedupe = new BroadcastDedupe(1_000, 16, () => now);
    const order: [Parameters<BroadcastDedupe['accept']>[0], SidebandStatus][] = [
      ['broadcast-channel', active],
      ['broadcast-channel', offline],
      ['client-message', active],
      ['client-message', offline],
    ];
    expect(order.map(([source, status]) => (now++, dedupe.accept(source, key(status))))).toEqual([true, true, false, false]);
  });

  it('keeps genuinely repeated events, one per pair of copies', () => {
    const dedupe = new BroadcastDedupe(1_000, 16, () => 0);
    const tick = noticeKey({ type: 'event', name: 'tick' });
    const seen = ['client-message', 'client-message', 'broadcast-channel', 'broadcast-channel'] as const;
    expect(seen.map((source) => dedupe.accept(source, tick))).toEqual([true, true, false, false]);
  });

  it('forgets unmatched copies after the window and beyond the bound', () => {
    let now = 0;
    const dedupe = new BroadcastDedupe(100, 2, () => now);
    expect(dedupe.accept('client-message', 'a')).toBe(true);
    now = 500; // the other path never delivered 'a' in time: a later 'a' is new
    expect(dedupe.accept('broadcast-channel', 'a')).toBe(true);
    expect(dedupe.accept('client-message', 'b')).toBe(true);
    expect(dedupe.accept('client-message', 'c')).toBe(true); // evicts the oldest ('a' from broadcast-channel)
    expect(dedupe.accept('client-message', 'a')).toBe(true);
  });
});
