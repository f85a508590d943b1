import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RELAY_NODE_FLAGS } from './node-flags.js';

describe('the relay\'s node flags', () => {
  const scripts = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> }).scripts;

  it('are what `npm run relay`, `npm start` and `npm run daemon` start node with', () => {
    for (const name of ['relay', 'start', 'daemon']) {
      for (const flag of RELAY_NODE_FLAGS) expect(scripts[name], name).toContain(`node ${flag} `);
    }
  });

  it('are flags this node accepts on its command line (a typo would stop the relay starting)', async () => {
    const { spawnSync } = await import('node:child_process');
    const run = spawnSync(process.execPath, [...RELAY_NODE_FLAGS, '-e', 'process.exit(0)'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });
});
