/**
 * `npm start` as a user runs it: a real process with its own data directory on a free port.
 * It must come up, pass its own end-to-end self-check, and stop cleanly on SIGTERM; a second
 * run on the same data keeps the daemon's id (nothing re-registered, nothing lost).
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

async function runOnce(dataDir: string): Promise<{ output: string; code: number | null }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
    env: { ...process.env, SIDEBAND_DATA: dataDir, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += String(chunk)));
  child.stderr.on('data', (chunk) => (output += String(chunk)));
  const deadline = Date.now() + 45_000;
  while (!output.includes('Ctrl-C to stop.') && child.exitCode === null && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  return { output, code };
}

describe('npm start', () => {
  it('runs relay and demo daemon, self-checks through a real session, and keeps its state', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sideband-start-'));
    try {
      const first = await runOnce(dataDir);
      expect(first.output).toContain('self-check    GET /api/hello → 200 {"hello":"npm-start"}');
      expect(first.output).toMatch(/Quick Connect code/);
      expect(first.code).toBe(0);
      const daemonId = /daemon\s+(\S+)/.exec(first.output)?.[1];
      const second = await runOnce(dataDir);
      expect(second.output).toContain(`daemon        ${daemonId}`);
      expect(second.output).toContain('→ 200');
      expect(second.code).toBe(0);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
