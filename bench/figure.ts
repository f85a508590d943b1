/**
 * One figure of `npm run bench`: a measurement side by side with its baseline, measured in the
 * same run (DEVELOPERS.md: no absolute speed claims), with the target ratio from the performance
 * issue when there is one. Every bench module returns these; bench/run.ts prints them as a
 * table, writes JSON, Markdown and an SVG chart into bench/results/.
 */
export interface BenchFigure {
  /** Stable id, e.g. `small-request.node.p50`. */
  id: string;
  /** Section: `small-request`, `throughput`, `concurrency`, `relay`, `cold-start`. */
  group: string;
  /** What a person reads, e.g. "Node client → relay → daemon, 100 B GET, p50". */
  name: string;
  /** `ms`, `MB/s`, `frames/s`, `KiB`, … */
  unit: string;
  /** Median over rounds. */
  value: number;
  /** Min and max over rounds (the spread). */
  spread?: [number, number];
  rounds?: number;
  baseline?: { name: string; value: number };
  /**
   * Target as a ratio of value to baseline: `{ op: '<=', ratio: 1.5 }` means value ≤ 1.5 × baseline.
   * `met` is filled in by the report.
   */
  target?: { op: '<=' | '>='; ratio: number };
  /** A note on how it was measured or why a target is missed. */
  note?: string;
}

/** Options every bench module takes. */
export interface BenchOptions {
  /** A short run (inside `npm test`): few rounds and small sizes, so it never rots; figures are not meaningful. */
  quick: boolean;
}

/** value / baseline, or undefined without a baseline. */
export function ratioOf(figure: BenchFigure): number | undefined {
  return figure.baseline && figure.baseline.value !== 0 ? figure.value / figure.baseline.value : undefined;
}

/** Whether the target is met (undefined without target or baseline). */
export function targetMet(figure: BenchFigure): boolean | undefined {
  const ratio = ratioOf(figure);
  if (!figure.target || ratio === undefined) return undefined;
  return figure.target.op === '<=' ? ratio <= figure.target.ratio : ratio >= figure.target.ratio;
}

/** Median and spread of samples (sorted copy). */
export function summarize(samples: readonly number[]): { median: number; spread: [number, number] } {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, spread: [sorted[0]!, sorted[sorted.length - 1]!] };
}

/** The `q` quantile (0..1) of latencies. */
export function quantile(samples: readonly number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
