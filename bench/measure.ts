/**
 * Minimal benchmark harness: runs a function for a time budget after a warm-up and reports
 * operations per second, and runs several measured variants in alternating rounds. Results are
 * only ever printed as ratios against a baseline measured in the same run, on the same machine
 * (DEVELOPERS.md: no absolute speed claims).
 */
export interface Measurement {
  name: string;
  opsPerSecond: number;
  bytesPerOp?: number;
}

export function measure(name: string, fn: () => void, options: { ms?: number; bytesPerOp?: number; warmup?: number } = {}): Measurement {
  const budget = options.ms ?? 400;
  const warmup = options.warmup ?? 50;
  for (let i = 0; i < warmup; i++) fn();
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < budget) {
    for (let i = 0; i < 20; i++) fn();
    ops += 20;
    now = performance.now();
  }
  return { name, opsPerSecond: (ops * 1000) / (now - start), bytesPerOp: options.bytesPerOp };
}

/** Prints measurements as ratios against the first (kept for ad-hoc runs). */
export function report(title: string, baseline: Measurement, others: Measurement[]): void {
  console.log(`\n${title}`);
  const rows = [baseline, ...others].map((m) => {
    const ratio = m.opsPerSecond / baseline.opsPerSecond;
    const throughput = m.bytesPerOp ? `  ${((m.opsPerSecond * m.bytesPerOp) / 1e6).toFixed(1)} MB/s` : '';
    return `  ${m.name.padEnd(44)} ${ratio.toFixed(3)}× baseline${throughput}`;
  });
  console.log(rows.join('\n'));
}

/**
 * Runs every variant once as warm-up, then `rounds` rounds in which each variant runs once, in
 * the same order every round (A, B, C, A, B, C, …), so a slow phase of a busy machine hits all of
 * them alike. Returns, per variant, what each measured round returned.
 */
export async function alternate<K extends string, T>(
  variants: Record<K, () => Promise<T> | T>,
  options: { rounds: number; warmup?: boolean },
): Promise<Record<K, T[]>> {
  const keys = Object.keys(variants) as K[];
  if (options.warmup ?? true) for (const key of keys) await variants[key]();
  const results = Object.fromEntries(keys.map((key) => [key, [] as T[]])) as Record<K, T[]>;
  for (let round = 0; round < options.rounds; round++) {
    for (const key of keys) results[key].push(await variants[key]());
  }
  return results;
}
