import { expect } from 'vitest';
import { hashBody, patternBytes, sha256 } from './http-fixture.js';

// Test-only (imports vitest): http-fixture.ts is also loaded by child processes outside the runner.

/**
 * Reads a download of the seed-`seed` pattern, runs `cut` once more than `afterBytes` arrived,
 * and checks the download ended loudly: intact (nothing was in flight at the cut) or failed
 * with `session_closed`, never short. A hang is the test's timeout.
 */
export async function expectCutDownloadIntactOrClosed(res: Response, size: number, seed: number, afterBytes: number, cut: () => void): Promise<void> {
  let done = false;
  const outcome = await hashBody(res.body, (received) => {
    if (!done && received > afterBytes) {
      done = true;
      cut();
    }
  }).catch((error: { code?: string }) => error);
  expect(done).toBe(true);
  if ('sha256' in outcome) expect(outcome).toEqual({ sha256: sha256(patternBytes(size, seed)), length: size });
  else expect(outcome).toMatchObject({ code: 'session_closed' });
}
