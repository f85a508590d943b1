import { afterAll, beforeAll, expect } from 'vitest';

/** Resource kinds that a test must give back: sockets, servers, timers, child processes. */
const TRACKED = new Set(['TCPSocketWrap', 'TCPServerWrap', 'Timeout', 'Immediate', 'ProcessWrap', 'PipeWrap', 'FSReqCallback', 'FileHandle']);

function census(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) if (TRACKED.has(kind)) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

function excess(baseline: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [kind, count] of census()) {
    const extra = count - (baseline.get(kind) ?? 0);
    if (extra > 0) out.push(`${extra} × ${kind}`);
  }
  return out;
}

/**
 * Fails the file if it ends with more live sockets, servers, timers or child processes than it
 * started with (style.md §14: tests fail on leaked handles). Call first inside `describe`, so
 * its `afterAll` runs after every other teardown hook.
 */
export function checkNoLeakedHandles(settleMs = 2_000): void {
  let baseline = new Map<string, number>();
  beforeAll(() => {
    baseline = census();
  });
  afterAll(async () => {
    const deadline = Date.now() + settleMs;
    let left = excess(baseline);
    while (left.length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      left = excess(baseline);
    }
    expect(left, 'handles left open after teardown').toEqual([]);
  });
}
