import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FrameType } from '../protocol/codes.js';
import { Heartbeat } from './heartbeat.js';

describe('Heartbeat', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('pings every interval and calls onDead when a Ping goes unanswered', () => {
    const sent: Uint8Array[] = [];
    const onDead = vi.fn();
    const hb = new Heartbeat({ intervalMs: 1000, timeoutMs: 500, send: (f) => sent.push(f), onDead });
    hb.start();
    vi.advanceTimersByTime(1000);
    expect(sent).toHaveLength(1);
    expect(sent[0]![0]).toBe(FrameType.Ping);
    expect(sent[0]!.length).toBe(13 + 8);
    vi.advanceTimersByTime(100);
    hb.pong();
    expect(hb.rttMs).toBe(100);
    vi.advanceTimersByTime(900); // t = 2000: the second Ping
    expect(sent).toHaveLength(2);
    vi.advanceTimersByTime(499);
    expect(onDead).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(onDead).toHaveBeenCalledOnce();
    hb.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});
