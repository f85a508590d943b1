/**
 * `npm start` as a user runs it: a real process with its own data directory on free ports.
 * It must build and serve the web app, come up, pass its own end-to-end self-check, print
 * where relay and web app are (and no secret), and stop cleanly on SIGTERM; a second run on
 * the same data keeps the daemon's id (nothing re-registered, nothing lost).
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface Run {
  output: string;
  code: number | null;
  /** What GET <web url>/ and /sideband-sw.js answered while it ran. */
  page?: { status: number; html: string };
  worker?: { status: number; type: string | null; allowed: string | null; text: string };
}

async function runOnce(dataDir: string): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
    // Its own build directory: the browser tests serve dist/test-web, a user's npm start dist/web.
    env: { ...process.env, SIDEBAND_DATA: dataDir, SIDEBAND_WEB_DIR: join(dataDir, 'web'), PORT: '0', WEB_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += String(chunk)));
  child.stderr.on('data', (chunk) => (output += String(chunk)));
  const deadline = Date.now() + 90_000;
  while (!output.includes('Ctrl-C to stop.') && child.exitCode === null && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const run: Run = { output, code: null };
  const web = /^web {2}(\S+)$/m.exec(output)?.[1];
  if (web) {
    const page = await fetch(`${web}/`);
    run.page = { status: page.status, html: await page.text() };
    const worker = await fetch(`${web}/sideband-sw.js`);
    run.worker = { status: worker.status, type: worker.headers.get('content-type'), allowed: worker.headers.get('service-worker-allowed'), text: await worker.text() };
  }
  child.kill('SIGTERM');
  run.code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  return run;
}

describe('npm start', () => {
  it('runs relay, demo daemon and web app, self-checks through a real session, and keeps its state', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sideband-start-'));
    try {
      const first = await runOnce(dataDir);
      expect(first.output).toContain('self-check    GET /api/hello → 200 {"hello":"npm-start"}');
      expect(first.output).toMatch(/Quick Connect code/);
      expect(first.code).toBe(0);

      const relay = /^relay {2}(http:\/\/127\.0\.0\.1:\d+)$/m.exec(first.output)?.[1];
      const web = /^web {2}(http:\/\/127\.0\.0\.1:\d+)$/m.exec(first.output)?.[1];
      expect(relay, first.output).toBeDefined();
      expect(web, first.output).toBeDefined();
      expect(web).not.toBe(relay);
      // Pairing links open the web app.
      expect(first.output).toContain(`${web}/#pair=`);

      expect(first.page?.status).toBe(200);
      expect(first.page?.html).toContain(`<meta name="sideband-relay" content="${relay}">`);
      expect(first.page?.html).toMatch(/<script type="module"[^>]*src="\/assets\/[^"]+\.js"/);
      expect(first.worker).toMatchObject({ status: 200, type: 'text/javascript; charset=utf-8', allowed: '/' });
      expect(first.worker?.text.length).toBeGreaterThan(1000);

      // Secrets stay in their files: the output says where, never what.
      const config = JSON.parse(await readFile(join(dataDir, 'daemon', 'identity.config.json'), 'utf8')) as { apiKey: string };
      const admin = (await readFile(join(dataDir, 'admin-key'), 'utf8')).trim();
      expect(first.output).not.toContain(config.apiKey);
      expect(first.output).not.toContain(admin);
      expect(first.output).toContain(join(dataDir, 'daemon', 'identity.config.json'));

      const daemonId = /^daemon\s+(\S+)$/m.exec(first.output)?.[1];
      const second = await runOnce(dataDir);
      expect(second.output).toContain(`daemon        ${daemonId}`);
      expect(second.output).toContain('→ 200');
      expect(second.code).toBe(0);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 240_000);
});
