import type { Parameters } from 'fast-check';

/**
 * fast-check settings for the fuzz suites (test/fuzz-*.test.ts): a fixed seed and a bounded run
 * count in `npm test`, so CI is reproducible and fast; `SIDEBAND_FUZZ_RUNS=N` runs N cases per
 * property with a fresh random seed (printed by fast-check on failure, with the counterexample).
 *
 *   SIDEBAND_FUZZ_RUNS=20000 npx vitest run test/fuzz-
 */
export const FUZZ_SEED = 0x5eedba7d;

const fromEnv = Number(process.env.SIDEBAND_FUZZ_RUNS ?? '');
/** Whether a long run was asked for (SIDEBAND_FUZZ_RUNS set to a positive number). */
export const LONG_FUZZ = Number.isInteger(fromEnv) && fromEnv > 0;

/** Parameters for one property: `runs` in `npm test`, SIDEBAND_FUZZ_RUNS in a long run. */
export function fuzzParams<T>(runs: number): Parameters<T> {
  return LONG_FUZZ ? { numRuns: fromEnv } : { numRuns: runs, seed: FUZZ_SEED };
}

/** The per-test timeout: generous in a long run, the default otherwise. */
export const FUZZ_TIMEOUT_MS = LONG_FUZZ ? 3_600_000 : 30_000;
