/**
 * Rendering of `npm run bench` results: the console table, the JSON document, the Markdown
 * table and the SVG chart in bench/results/. Pure functions of the figures and the machine
 * description, so they are unit-tested (bench/bench.test.ts).
 */
import { ratioOf, targetMet, type BenchFigure } from './figure.js';

export interface MachineInfo {
  node: string;
  cpu: string;
  cores: number;
  platform: string;
  memoryGiB: number;
}

export interface BenchResults {
  date: string;
  quick: boolean;
  machine: MachineInfo;
  howMeasured: string;
  /** Modules that did not run, and why. */
  skipped: string[];
  figures: (BenchFigure & { ratio?: number; met?: boolean })[];
}

export const HOW_MEASURED =
  'Every figure is measured side by side with its baseline in the same run on the same machine, and only the ratio is a claim. ' +
  'In the Node end-to-end figures the relay and the daemon run in child processes of their own and the client in the bench process, ' +
  'so no two endpoints share an event loop; every path serves the same handler from the same daemon process ' +
  '(baseline A: undici fetch → node:http; baseline C: a hand-written WebSocket with JSON ids through a bare `ws` forwarder process, no encryption). ' +
  "The relay's per-connection message rate limits are raised so the limiter does not cap a measurement. " +
  'Each section warms up, then runs its variants in alternating rounds (A, ours, C, A, ours, C, …); a figure is the median over rounds, ' +
  'the spread is the minimum and maximum round. Protocol figures are in-process microbenchmarks (a time budget per measurement, alternating rounds).';

export function buildResults(figures: readonly BenchFigure[], machine: MachineInfo, options: { date: string; quick: boolean; skipped?: string[] }): BenchResults {
  return {
    date: options.date,
    quick: options.quick,
    machine,
    howMeasured: HOW_MEASURED,
    skipped: options.skipped ?? [],
    figures: figures.map((f) => {
      const ratio = ratioOf(f);
      const met = targetMet(f);
      return { ...f, ...(ratio !== undefined ? { ratio } : {}), ...(met !== undefined ? { met } : {}) };
    }),
  };
}

/** A number with about three significant digits, no exponent for ordinary magnitudes. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  if (abs === 0) return '0';
  return value.toPrecision(2);
}

function withUnit(value: number, unit: string): string {
  return `${formatNumber(value)} ${unit}`;
}

export function formatRatio(ratio: number | undefined): string {
  return ratio === undefined ? '—' : `${ratio.toFixed(2)}×`;
}

export function formatTarget(target: BenchFigure['target']): string {
  return target ? `${target.op === '<=' ? '≤' : '≥'} ${target.ratio}×` : '—';
}

function formatMet(figure: BenchFigure): string {
  const met = targetMet(figure);
  return met === undefined ? '' : met ? '✓' : '✗';
}

function formatSpread(figure: BenchFigure): string {
  return figure.spread ? `${formatNumber(figure.spread[0])}–${formatNumber(figure.spread[1])}` : '—';
}

const COLUMNS = ['figure', 'value', 'baseline', 'ratio', 'target', 'met', 'spread (min–max)'] as const;

function rowCells(f: BenchFigure): string[] {
  return [
    f.name,
    withUnit(f.value, f.unit),
    f.baseline ? `${withUnit(f.baseline.value, f.unit)} (${f.baseline.name})` : '—',
    formatRatio(ratioOf(f)),
    formatTarget(f.target),
    formatMet(f),
    f.spread ? `${formatSpread(f)} ${f.unit}${f.rounds ? `, ${f.rounds} round${f.rounds === 1 ? '' : 's'}` : ''}` : '—',
  ];
}

/** Groups in first-seen order. */
export function groupFigures(figures: readonly BenchFigure[]): Map<string, BenchFigure[]> {
  const groups = new Map<string, BenchFigure[]>();
  for (const f of figures) {
    const list = groups.get(f.group) ?? [];
    list.push(f);
    groups.set(f.group, list);
  }
  return groups;
}

/** The console table: fixed-width columns, one block per group. */
export function renderTable(figures: readonly BenchFigure[]): string {
  const rows = figures.map(rowCells);
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...rows.map((r) => [...r[i]!].length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c + ' '.repeat(widths[i]! - [...c].length)).join('  ').trimEnd();
  const out = [line(COLUMNS), widths.map((w) => '-'.repeat(w)).join('  ')];
  let group: string | undefined;
  figures.forEach((f, i) => {
    if (f.group !== group) {
      group = f.group;
      out.push(`[${group}]`);
    }
    out.push(line(rows[i]!));
  });
  return out.join('\n');
}

function escapeMarkdown(text: string): string {
  return text.replace(/\|/g, '\\|');
}

/** bench/results/latest.md: machine, how measured, one table per group. */
export function renderMarkdown(results: BenchResults): string {
  const { machine } = results;
  const out = [
    `# Benchmark results${results.quick ? ' (quick run: sizes too small to mean anything)' : ''}`,
    '',
    `Run ${results.date} with \`npm run bench${results.quick ? ' -- --quick' : ''}\` on Node ${machine.node}, ${machine.cpu} (${machine.cores} cores), ${machine.platform}, ${machine.memoryGiB} GiB RAM.`,
    '',
    `**How measured.** ${results.howMeasured}`,
    '',
    'A ratio is value ÷ baseline; targets are ratios from the performance issue (✓ met, ✗ missed). ![ratio vs target](latest.svg)',
  ];
  if (results.skipped.length) out.push('', `Not run: ${results.skipped.map(escapeMarkdown).join('; ')}.`);
  for (const [group, figures] of groupFigures(results.figures)) {
    out.push('', `## ${group}`, '', `| ${COLUMNS.join(' | ')} |`, `| ${COLUMNS.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`);
    for (const f of figures) out.push(`| ${rowCells(f).map(escapeMarkdown).join(' | ')} |`);
    // One line per distinct note; a note every figure of the group shares is said once.
    const notes = new Map<string, string[]>();
    for (const f of figures) if (f.note) notes.set(f.note, [...(notes.get(f.note) ?? []), f.name]);
    if (notes.size) out.push('');
    for (const [note, names] of notes) {
      out.push(names.length === figures.length && figures.length > 1 ? `- All: ${escapeMarkdown(note)}` : `- ${names.map(escapeMarkdown).join('; ')}: ${escapeMarkdown(note)}`);
    }
  }
  return out.join('\n') + '\n';
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * A horizontal bar per figure with a baseline: its ratio to the baseline on a linear scale,
 * a dashed line at 1× (the baseline), a black tick at the target; green when the target is met,
 * red when missed, grey without a target. Ratios past the scale are cut and marked with ▸.
 * Self-contained: no fonts, scripts or links.
 */
export function renderSvg(figures: readonly BenchFigure[], title = 'sideband bench: ratio to same-run baseline'): string {
  const charted = figures.filter((f) => ratioOf(f) !== undefined);
  const labelWidth = 540;
  const barWidth = 420;
  const valueWidth = 330;
  const maxLabel = 72;
  const rowHeight = 22;
  const top = 56;
  const width = labelWidth + barWidth + valueWidth + 20;
  const groups = groupFigures(charted);
  const height = top + charted.length * rowHeight + groups.size * rowHeight + 40;
  const ratios = charted.map((f) => ratioOf(f)!);
  const targets = charted.flatMap((f) => (f.target ? [f.target.ratio] : []));
  const max = Math.min(8, Math.max(2, ...ratios, ...targets) * 1.1);
  const x = (ratio: number) => labelWidth + (Math.min(ratio, max) / max) * barWidth;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="10" y="22" font-size="16" font-weight="bold" fill="#111">${escapeXml(title)}</text>`,
    `<text x="10" y="42" fill="#444">bar: value ÷ baseline · dashed line: baseline (1×) · black tick: target · green met, red missed, grey no target</text>`,
  ];
  let y = top;
  for (const [group, list] of groups) {
    parts.push(`<text x="10" y="${y + 15}" font-weight="bold" fill="#111">${escapeXml(group)}</text>`);
    y += rowHeight;
    for (const f of list) {
      const ratio = ratioOf(f)!;
      const met = targetMet(f);
      const color = met === undefined ? '#9aa0a6' : met ? '#2e9e44' : '#d93025';
      const name = [...f.name].length > maxLabel ? `${[...f.name].slice(0, maxLabel - 1).join('')}…` : f.name;
      parts.push(`<text x="${labelWidth - 8}" y="${y + 15}" text-anchor="end" fill="#222">${escapeXml(name)}<title>${escapeXml(f.name)}</title></text>`);
      parts.push(`<rect x="${labelWidth}" y="${y + 4}" width="${(x(ratio) - labelWidth).toFixed(1)}" height="${rowHeight - 8}" fill="${color}"><title>${escapeXml(`${f.id}: ${formatRatio(ratio)} (target ${formatTarget(f.target)})`)}</title></rect>`);
      if (ratio > max) parts.push(`<text x="${x(max) + 2}" y="${y + 15}" fill="${color}">▸</text>`);
      if (f.target) {
        const tx = x(f.target.ratio).toFixed(1);
        parts.push(`<line x1="${tx}" x2="${tx}" y1="${y + 1}" y2="${y + rowHeight - 1}" stroke="#000" stroke-width="2.5"/>`);
      }
      const label = `${formatRatio(ratio)}${f.target ? ` (target ${formatTarget(f.target)} ${met ? '✓' : '✗'})` : ''} · ${withUnit(f.value, f.unit)} vs ${withUnit(f.baseline!.value, f.unit)}`;
      parts.push(`<text x="${labelWidth + barWidth + 12}" y="${y + 15}" fill="#222">${escapeXml(label)}</text>`);
      y += rowHeight;
    }
  }
  const one = x(1).toFixed(1);
  parts.push(`<line x1="${one}" x2="${one}" y1="${top}" y2="${y}" stroke="#555" stroke-dasharray="4 3"/>`);
  // Axis: 0, 1×, and whole ratios up to the scale.
  parts.push(`<line x1="${labelWidth}" x2="${labelWidth + barWidth}" y1="${y + 4}" y2="${y + 4}" stroke="#555"/>`);
  for (let tick = 0; tick <= max; tick += max > 4 ? 2 : 1) {
    parts.push(`<text x="${x(tick).toFixed(1)}" y="${y + 20}" text-anchor="middle" fill="#444">${tick}×</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
