/**
 * `npm run bench [-- --quick] [-- --only GROUP]`: every benchmark module in one run, each figure
 * side by side with its same-run baseline. Prints the table and writes bench/results/latest.json
 * (plus a timestamped copy), latest.md and latest.svg; `--quick` (run by bench/bench.test.ts
 * inside `npm test`) writes to bench/results/quick/ instead. `--only` takes a module (`protocol`,
 * `node`, `handshake`, `relay`, `browser`, `cluster`) or a group (`small-request`, `throughput`,
 * …) and writes only a timestamped JSON, leaving latest.* alone; `--skip MODULE` leaves a module
 * out (named in the results as not run). `cluster` needs a redis-server: without one it is
 * skipped with the reason (also named in the results), except in CI (`CI` set), where it fails.
 * Missed targets do not fail the run; a module that throws does (exit 1).
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, platform, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchFigure, BenchOptions } from './figure.js';
import { protocolBenchmarks } from './protocol.bench.js';
import { NODE_GROUPS, nodeBenchmarks, type NodeGroup } from './node.bench.js';
import { clusterBenchmarks } from './cluster.bench.js';
import { buildResults, renderMarkdown, renderSvg, renderTable, type MachineInfo } from './report.js';

interface Args {
  quick: boolean;
  only?: string;
  skip: string[];
  out?: string;
}

export function parseArgs(argv: readonly string[]): Args {
  const args: Args = { quick: false, skip: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick') args.quick = true;
    else if (arg === '--only') args.only = argv[++i];
    else if (arg.startsWith('--only=')) args.only = arg.slice('--only='.length);
    else if (arg === '--skip') args.skip.push(argv[++i] ?? '');
    else if (arg === '--out') args.out = argv[++i];
    else throw new Error(`unknown argument ${arg} (use --quick, --only GROUP, --skip MODULE, --out DIR)`);
  }
  if ('only' in args && !args.only) throw new Error('--only needs a module or group');
  return args;
}

interface Module {
  name: string;
  /** Groups the module is known to produce (for `--only GROUP`). */
  groups: readonly string[];
  run(options: BenchOptions, groups?: string[]): Promise<BenchFigure[] | string>;
}

/**
 * A bench module someone else owns, imported when present. It must export `exportName(opts)`
 * returning Promise<BenchFigure[]>; an older signature (no parameter, resolving to nothing) is
 * skipped with a note rather than run.
 */
function optionalModule(name: string, file: string, exportName: string): Module {
  return {
    name,
    groups: [name],
    async run(options) {
      const url = new URL(file, import.meta.url);
      if (!existsSync(fileURLToPath(url))) return `${file} not present`;
      const module = (await import(url.href)) as Record<string, unknown>;
      const fn = module[exportName];
      if (typeof fn !== 'function') return `${file} exports no ${exportName}()`;
      const params = /^[^(]*\(([^)]*)\)/.exec(String(fn))?.[1]?.trim() ?? '';
      if (fn.length === 0 && params === '') return `${file}: ${exportName}() still has the old signature (no options, prints instead of returning BenchFigure[])`;
      const figures: unknown = await (fn as (options: BenchOptions) => Promise<unknown>)(options);
      if (!Array.isArray(figures)) return `${file}: ${exportName}(opts) returned no BenchFigure[]`;
      return figures as BenchFigure[];
    },
  };
}

const MODULES: Module[] = [
  { name: 'protocol', groups: ['protocol'], run: async (options) => protocolBenchmarks(options) },
  {
    name: 'node',
    groups: NODE_GROUPS,
    run: (options, groups) => nodeBenchmarks({ ...options, groups: groups as NodeGroup[] | undefined }),
  },
  optionalModule('handshake', './handshake.bench.ts', 'handshakeBenchmarks'),
  optionalModule('relay', './relay.bench.ts', 'relayBenchmarks'),
  optionalModule('browser', './browser.bench.ts', 'browserBenchmarks'),
  // The cross-node hop (issue 10); skipped with the reason when redis-server is missing, outside CI.
  { name: 'cluster', groups: ['cluster'], run: (options) => clusterBenchmarks(options) },
];

/** A module that runs longer fails the run (its children exit when this process does). */
const QUICK_MODULE_LIMIT_MS = 75_000;
const FULL_MODULE_LIMIT_MS = 10 * 60_000;

function machineInfo(): MachineInfo {
  return {
    node: process.version,
    cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
    cores: availableParallelism(),
    platform: `${platform()} ${release()}`,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
  };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const options: BenchOptions = { quick: args.quick };
  const date = new Date().toISOString();
  const machine = machineInfo();
  console.log(`node ${machine.node}, ${machine.cpu}, ${machine.cores} cores, ${date}${args.quick ? ' (quick: figures are not meaningful)' : ''}`);
  const figures: BenchFigure[] = [];
  const skipped: string[] = [];
  let failed = false;
  for (const module of MODULES) {
    const only = args.only;
    const selected = !only || only === module.name || module.groups.includes(only);
    if (!selected) continue;
    if (args.skip.includes(module.name)) {
      console.log(`\n== ${module.name}\n   skipped: --skip ${module.name}`);
      skipped.push(`${module.name} (--skip ${module.name})`);
      continue;
    }
    const groups = only && only !== module.name ? [only] : undefined;
    const start = performance.now();
    console.log(`\n== ${module.name}`);
    let timer: NodeJS.Timeout | undefined;
    try {
      const limitMs = args.quick ? QUICK_MODULE_LIMIT_MS : FULL_MODULE_LIMIT_MS;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`did not finish within ${limitMs / 1000} s`)), limitMs);
      });
      const result = await Promise.race([module.run(options, groups), timeout]);
      if (typeof result === 'string') {
        console.log(`   skipped: ${result}`);
        skipped.push(`${module.name} (${result})`);
      } else {
        figures.push(...(groups ? result.filter((f) => groups.includes(f.group)) : result));
        console.log(`   ${result.length} figures in ${((performance.now() - start) / 1000).toFixed(1)} s`);
      }
    } catch (error) {
      failed = true;
      console.error(`   FAILED: ${(error as Error).stack ?? String(error)}`);
      skipped.push(`${module.name} (failed: ${(error as Error).message})`);
    } finally {
      clearTimeout(timer);
    }
  }
  if (args.only && figures.length === 0 && !failed) {
    console.error(`no figures for --only ${args.only}`);
    return 1;
  }

  console.log(`\n${renderTable(figures)}`);
  const results = buildResults(figures, machine, { date, quick: args.quick, skipped });
  const dir = args.out ?? fileURLToPath(new URL(args.quick ? './results/quick/' : './results/', import.meta.url));
  await mkdir(dir, { recursive: true });
  const stamp = date.replace(/[:.]/g, '-');
  const json = JSON.stringify(results, null, 2) + '\n';
  const base = args.only ? `${stamp}-only-${args.only}` : stamp;
  await writeFile(join(dir, `${base}.json`), json);
  if (!args.only) {
    await writeFile(join(dir, 'latest.json'), json);
    await writeFile(join(dir, 'latest.md'), renderMarkdown(results));
    await writeFile(join(dir, 'latest.svg'), renderSvg(results.figures));
    console.log(`\nwrote ${join(dir, 'latest')}.{json,md,svg} and ${base}.json`);
  } else {
    console.log(`\nwrote ${join(dir, base)}.json`);
  }
  return failed ? 1 : 0;
}

// Exit explicitly: a module that timed out may still hold sockets or child processes.
process.exit(await main());
