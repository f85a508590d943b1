import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { BenchFigure } from './figure.js';
import { buildResults, formatNumber, renderMarkdown, renderSvg, renderTable, type BenchResults, type MachineInfo } from './report.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const quickDir = fileURLToPath(new URL('./results/quick/', import.meta.url));

const machine: MachineInfo = { node: 'v20.0.0', cpu: 'Test CPU', cores: 2, platform: 'linux', memoryGiB: 4 };

const figures: BenchFigure[] = [
  { id: 'small-request.node.p50', group: 'small-request', name: 'p50 | latency', unit: 'ms', value: 1.2, spread: [1, 1.5], rounds: 5, baseline: { name: 'node:http', value: 1 }, target: { op: '<=', ratio: 1.5 } },
  { id: 'small-request.node.p99', group: 'small-request', name: 'p99 <latency> & more', unit: 'ms', value: 3, baseline: { name: 'node:http', value: 1 }, target: { op: '<=', ratio: 2 } },
  { id: 'throughput.node.download', group: 'throughput', name: 'download', unit: 'MB/s', value: 80, baseline: { name: 'node:http', value: 100 }, target: { op: '>=', ratio: 0.6 }, note: 'one stream' },
  { id: 'cold-start.node.daemon-restart', group: 'cold-start', name: 'restart', unit: 'ms', value: 400 },
];

/** Well-formedness of the SVG we write: every tag closed in order (no XML parser in the dependencies). */
function checkWellFormed(xml: string): void {
  const stack: string[] = [];
  for (const match of xml.matchAll(/<(\/?)([a-zA-Z][\w:-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = match;
    if (selfClosing) continue;
    if (closing) expect(stack.pop()).toBe(name);
    else stack.push(name!);
  }
  expect(stack).toEqual([]);
  expect(xml).not.toMatch(/&(?!amp;|lt;|gt;|quot;)/);
}

function runQuick(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // Its own process group, so a hang is ended with every process under it (npx → tsx → node → children).
    const child = spawn('npx', ['tsx', 'bench/run.ts', '--quick'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const timer = setTimeout(() => {
      stderr += '\n[bench.test] killed after 140 s';
      process.kill(-child.pid!, 'SIGKILL');
    }, 140_000);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('bench report rendering', () => {
  const results = buildResults(figures, machine, { date: '2026-01-01T00:00:00.000Z', quick: false, skipped: ['browser (not present)'] });

  it('adds ratio and met to figures with a baseline, nothing to the others', () => {
    expect(results.figures[0]).toMatchObject({ ratio: 1.2, met: true });
    expect(results.figures[1]).toMatchObject({ ratio: 3, met: false });
    expect(results.figures[2]!.ratio).toBeCloseTo(0.8);
    expect(results.figures[2]!.met).toBe(true);
    expect(results.figures[3]).not.toHaveProperty('ratio');
    expect(results.figures[3]).not.toHaveProperty('met');
    expect(JSON.parse(JSON.stringify(results))).toEqual(results);
  });

  it('formats numbers with about three significant digits', () => {
    expect(formatNumber(1234567)).toBe('1,234,567');
    expect(formatNumber(123.4)).toBe('123');
    expect(formatNumber(12.34)).toBe('12.3');
    expect(formatNumber(1.234)).toBe('1.23');
    expect(formatNumber(0.01234)).toBe('0.012');
    expect(formatNumber(0)).toBe('0');
  });

  it('prints a console table with value, baseline, ratio, target, met and spread', () => {
    const table = renderTable(figures);
    const lines = table.split('\n');
    expect(lines[0]).toMatch(/^figure\s+value\s+baseline\s+ratio\s+target\s+met\s+spread/);
    expect(table).toContain('[small-request]');
    const p50 = lines.find((l) => l.startsWith('p50'))!;
    expect(p50).toContain('1.20 ms');
    expect(p50).toContain('1.00 ms (node:http)');
    expect(p50).toContain('1.20×');
    expect(p50).toContain('≤ 1.5×');
    expect(p50).toContain('✓');
    expect(p50).toContain('1.00–1.50 ms, 5 rounds');
    expect(lines.find((l) => l.startsWith('p99'))).toContain('✗');
    expect(lines.find((l) => l.startsWith('download'))).toContain('≥ 0.6×');
  });

  it('writes Markdown grouped by section, with machine info, how measured and escaped cells', () => {
    const md = renderMarkdown(results);
    expect(md).toContain('Node v20.0.0, Test CPU (2 cores)');
    expect(md).toContain('**How measured.**');
    expect(md).toContain('Not run: browser (not present).');
    expect(md.match(/^## /gm)).toHaveLength(3);
    expect(md.indexOf('## small-request')).toBeLessThan(md.indexOf('## throughput'));
    expect(md).toContain('| p50 \\| latency | 1.20 ms |');
    expect(md).toContain('- download: one stream');
    // Every table row has the same number of cells as its header.
    for (const table of md.split('\n\n').filter((block) => block.startsWith('| figure'))) {
      const counts = table.trim().split('\n').map((row) => row.replace(/\\\|/g, '').split('|').length);
      expect(new Set(counts).size).toBe(1);
    }
  });

  it('draws a self-contained SVG bar per figure with a baseline, coloured by target', () => {
    const svg = renderSvg(results.figures);
    checkWellFormed(svg);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).not.toMatch(/<script|href=/);
    expect(svg.match(/<rect x=/g)).toHaveLength(3); // the restart figure has no baseline
    expect(svg.match(/fill="#2e9e44"/g)).toHaveLength(2); // p50 and download met
    expect(svg.match(/fill="#d93025"/g)).toHaveLength(1); // p99 missed
    expect(svg).toContain('p99 &lt;latency&gt; &amp; more');
    expect(svg).toContain('1.20× (target ≤ 1.5× ✓)');
  });

  it('cuts long names and ratios past the scale', () => {
    const long: BenchFigure = { id: 'x', group: 'g', name: 'n'.repeat(100), unit: 'ms', value: 100, baseline: { name: 'b', value: 1 } };
    const svg = renderSvg([long]);
    checkWellFormed(svg);
    expect(svg).toContain(`${'n'.repeat(71)}…`);
    expect(svg).toContain('▸');
  });
});

describe('npm run bench -- --quick', () => {
  it('runs every module end to end and writes JSON, Markdown and SVG', { timeout: 150_000 }, async () => {
    const started = Date.now();
    const { code, stdout, stderr } = await runQuick();
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    const results = JSON.parse(await readFile(`${quickDir}/latest.json`, 'utf8')) as BenchResults;
    expect(new Date(results.date).getTime()).toBeGreaterThanOrEqual(started - 1000);
    expect(results.quick).toBe(true);
    expect(results.machine.cores).toBeGreaterThan(0);
    const ids = results.figures.map((f) => f.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ['small-request.node.p50', 'small-request.node.p99', 'throughput.node.download', 'throughput.node.upload', 'concurrency.node.total', 'cold-start.node.session', 'cold-start.node.daemon-restart', 'protocol.seal.16384', 'protocol.decode']) {
      expect(ids).toContain(id);
    }
    for (const f of results.figures) {
      expect(Number.isFinite(f.value), f.id).toBe(true);
      if (f.baseline) expect(Number.isFinite(f.baseline.value) && f.baseline.value > 0, f.id).toBe(true);
      if (f.target) expect(f.baseline, `${f.id} has a target but no baseline`).toBeDefined();
    }
    for (const f of results.figures.filter((f) => f.group !== 'protocol' && f.id.includes('.node.') && f.id !== 'cold-start.node.daemon-restart')) {
      expect(f.baseline, f.id).toBeDefined();
    }
    const md = await readFile(`${quickDir}/latest.md`, 'utf8');
    expect(md).toContain('## small-request');
    expect(md).toContain('**How measured.**');
    checkWellFormed(await readFile(`${quickDir}/latest.svg`, 'utf8'));
    expect(stdout).toMatch(/figure\s+value\s+baseline\s+ratio/);
  });
});
