import { describe, expect, it } from 'vitest';
import { UsedSids } from './used-sids.js';

describe('UsedSids', () => {
  it('remembers a sid until its token expires', () => {
    const used = new UsedSids(10);
    used.remember(1n, 1000);
    expect(used.has(1n, 999)).toBe(true);
    expect(used.has(1n, 1000)).toBe(false);
    expect(used.size).toBe(0);
  });

  it('forgets the oldest sid when full', () => {
    const used = new UsedSids(3);
    for (const sid of [1n, 2n, 3n, 4n]) used.remember(sid, 10_000);
    expect(used.size).toBe(3);
    expect(used.has(1n, 0)).toBe(false);
    expect(used.has(4n, 0)).toBe(true);
  });

  it('prunes expired entries from the front', () => {
    const used = new UsedSids(10);
    used.remember(1n, 100);
    used.remember(2n, 200);
    used.remember(3n, 300);
    used.prune(250);
    expect(used.size).toBe(1);
  });
});
