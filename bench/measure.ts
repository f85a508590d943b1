/**
 * Minimal benchmark harness: runs a function for a time budget after a warm-up and reports
 * operations per second. Results are only ever printed as ratios against a baseline measured
 * in the same run, on the same machine (DEVELOPERS.md: no absolute speed claims).
 */
export interface Measurement {
  name: string;
  opsPerSecond: number;
  bytesPerOp?: number;
}

export function measure(name: string, fn: () => void, options: { ms?: number; bytesPerOp?: number } = {}): Measurement {
  const budget = options.ms ?? 400;
  for (let i = 0; i < 50; i++) fn();
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

export function report(title: string, baseline: Measurement, others: Measurement[]): void {
  console.log(`\n${title}`);
  const rows = [baseline, ...others].map((m) => {
    const ratio = m.opsPerSecond / baseline.opsPerSecond;
    const throughput = m.bytesPerOp ? `  ${((m.opsPerSecond * m.bytesPerOp) / 1e6).toFixed(1)} MB/s` : '';
    return `  ${m.name.padEnd(44)} ${ratio.toFixed(3)}× baseline${throughput}`;
  });
  console.log(rows.join('\n'));
}
