import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** The CLI as a real process: exit codes, the one-time admin key, and a clean SIGTERM shutdown. */

const cli = fileURLToPath(new URL('./cli.ts', import.meta.url));
const tsx = fileURLToPath(new URL('../node_modules/.bin/tsx', import.meta.url));

function run(args: string[], onStdout?: (text: string, kill: () => void) => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(tsx, [cli, ...args], { env: { ...process.env, SIDEBAND_ADMIN_KEY: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      onStdout?.(stdout, () => child.kill('SIGTERM'));
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('relay CLI process', () => {
  it('exits 2 with a clear message on a bad flag, 0 on --help', async () => {
    const bad = await run(['--port', 'eighty']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--port must be a whole number');
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--allowed-origins');
  });

  it('starts, prints a generated admin key once, serves /healthz, and stops on SIGTERM', async () => {
    let healthy = false;
    let asked = false;
    const result = await run(['--port', '0'], (stdout, kill) => {
      const match = /Relay listening on (http:\/\/\S+)/.exec(stdout);
      if (!match || asked) return;
      asked = true;
      void fetch(`${match[1]}/healthz`).then(async (res) => {
        healthy = res.status === 200 && ((await res.json()) as { ok?: unknown }).ok === true;
        kill();
      }, kill);
    });
    expect(result.code).toBe(0);
    expect(healthy).toBe(true);
    expect(result.stdout.match(/Generated admin key \(shown once\): sba_\S+/g)).toHaveLength(1);
    expect(result.stderr).not.toContain('sba_'); // the key is never logged
    expect(result.stderr).toContain('warning: no --data-dir'); // in-memory state is announced
  });
});
