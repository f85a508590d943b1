/**
 * Builds what the browser runs into `dist/web/` (or the directory given as the first argument):
 *   sideband-sw.js      the service worker, one classic script (Firefox 140 has no module workers)
 *   sideband-page.js    the page library as an ES module, for apps that do not bundle it
 *   index.html, assets/ the demo web app (demo/), which imports the page library
 * Used by `npm start`, the browser tests (test/browser/global-setup.ts) and `npm run build:web`.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type InlineConfig } from 'vite';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));

export async function buildWeb(outDir = resolve(root, 'dist/web')): Promise<string> {
  // workbox-core reads process.env.NODE_ENV, which a library build leaves in place.
  const common: InlineConfig = { configFile: false, logLevel: 'warn', root, define: { 'process.env.NODE_ENV': JSON.stringify('production') } };
  // Demo first: it empties outDir; the two library builds then add their files beside it.
  await build({
    ...common,
    root: resolve(root, 'demo'),
    base: '/',
    build: { outDir, emptyOutDir: true, target: 'es2022', sourcemap: true },
  });
  // The worker as one classic script (Firefox 140 has no module workers); the page library as ESM.
  const library = (entry: string, format: 'iife' | 'es', fileName: string) =>
    build({
      ...common,
      build: { outDir, emptyOutDir: false, target: 'es2022', sourcemap: true, lib: { entry: resolve(root, entry), formats: [format], name: 'sidebandWorker', fileName: () => fileName } },
    });
  await library('sw/sw.ts', 'iife', 'sideband-sw.js');
  await library('page/index.ts', 'es', 'sideband-page.js');
  return outDir;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = await buildWeb(process.argv[2] ? resolve(process.argv[2]) : undefined);
  process.stdout.write(`built ${out}\n`);
}
