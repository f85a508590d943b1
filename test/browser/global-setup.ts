import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import { build } from 'vite';
import { buildWeb } from '../../scripts/build-web.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The directory this run's browser build is in (test-web-root.ts reads it). */
    testWebRoot: string;
  }
}

/**
 * Vitest global setup: builds the real service worker, page library and demo once for every
 * browser test, plus a bare test page that exposes the page library's object as
 * `window.sideband` for the tests to drive.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // A directory of this run's own: not dist/web (which `npm start` rebuilds), and not shared with
  // another test run on the machine, whose rebuild would empty it under this one.
  const webRoot = await mkdtemp(join(tmpdir(), 'sideband-test-web-'));
  project.provide('testWebRoot', webRoot);
  await buildWeb(webRoot);
  // The known-answer vector runner, bundled like the worker (vectors-entry.ts).
  await build({
    configFile: false,
    logLevel: 'warn',
    build: {
      outDir: webRoot,
      emptyOutDir: false,
      target: 'es2022',
      lib: { entry: resolve(import.meta.dirname, 'vectors-entry.ts'), formats: ['iife'], name: 'sbrpVectors', fileName: () => 'vectors.js' },
    },
  });
  // The README's web-app example (docs/examples/web-app.ts), bundled as an app would bundle it.
  await build({
    configFile: false,
    logLevel: 'warn',
    build: {
      outDir: resolve(webRoot, 'examples'),
      emptyOutDir: true,
      target: 'es2022',
      lib: { entry: resolve(import.meta.dirname, '../../docs/examples/web-app.ts'), formats: ['es'], fileName: () => 'web-app.js' },
    },
  });
  await writeFile(
    resolve(webRoot, 'readme.html'),
    `<!doctype html><meta charset="utf-8"><title>README example</title><pre id="out"></pre>
<script type="module">
import { startWebApp } from '/examples/web-app.js';
const lines = (window.lines = []);
const show = (line) => { lines.push(line); document.getElementById('out').textContent += line + '\\n'; };
window.started = startWebApp(new URLSearchParams(location.search).get('relay'), show).then(() => show('done'), (e) => show('error ' + e.code + ' ' + e.message));
</script>
`,
  );
  await writeFile(
    resolve(webRoot, 'test.html'),
    `<!doctype html><meta charset="utf-8"><title>sideband test page</title>
<script type="module">
import { registerSideband } from '/sideband-page.js';
const relay = new URLSearchParams(location.search).get('relay') ?? undefined;
window.sidebandReady = registerSideband({ relay }).then((s) => (window.sideband = s));
window.sidebandReady.catch((e) => (window.sidebandError = { code: e.code, message: e.message }));
</script>
`,
  );
  return () => rm(webRoot, { recursive: true, force: true });
}
