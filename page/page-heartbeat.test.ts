/**
 * Unit test of the visibility-driven heartbeat with fake timers and a fake document (under
 * Node). That it keeps a real worker alive is tested in the browser end-to-end tests.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startPageHeartbeat } from './page-heartbeat.js';

class FakeDocument extends EventTarget {
  visibilityState: DocumentVisibilityState = 'visible';
  show(state: DocumentVisibilityState): void {
    this.visibilityState = state;
    this.dispatchEvent(new Event('visibilitychange'));
  }
}

describe('startPageHeartbeat', () => {
  afterEach(() => vi.useRealTimers());

  it('beats while visible, pauses while hidden, beats and says hello at once on return', () => {
    vi.useFakeTimers();
    const doc = new FakeDocument();
    const abort = new AbortController();
    let beats = 0;
    let hellos = 0;
    startPageHeartbeat({ intervalMs: 1_000, beat: () => beats++, onVisible: () => hellos++, signal: abort.signal, document: doc });
    vi.advanceTimersByTime(3_500);
    expect(beats).toBe(3);
    doc.show('hidden');
    vi.advanceTimersByTime(10_000);
    expect(beats).toBe(3);
    doc.show('visible');
    expect([beats, hellos]).toEqual([4, 1]);
    vi.advanceTimersByTime(1_000);
    expect(beats).toBe(5);
    abort.abort();
    doc.show('visible');
    vi.advanceTimersByTime(5_000);
    expect([beats, hellos, vi.getTimerCount()]).toEqual([5, 1, 0]);
  });
});
