/**
 * The README's code cannot rot: every ts/js/html block in it must be preceded by
 * `<!-- file: PATH -->` and equal that file, and each such file is run by a test
 * (test/e2e-readme-examples.test.ts, test/browser/chromium-readme.test.ts). Shell blocks are
 * command lines of the CLIs, which their own tests run.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const readme = readFileSync(resolve(root, 'README.md'), 'utf8');
const RUN_BY = ['test/e2e-readme-examples.test.ts', 'test/browser/chromium-readme.test.ts'].map((p) => readFileSync(resolve(root, p), 'utf8')).join('\n');

const blocks = [...readme.matchAll(/(?:<!-- file: (\S+) -->\n)?```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ file: m[1], lang: m[2] ?? '', body: m[3]! }));

it('every code block in the README that is code is a file, byte for byte', () => {
  const code = blocks.filter((b) => ['ts', 'js', 'html', 'tsx', 'mjs'].includes(b.lang));
  expect(code.length).toBeGreaterThanOrEqual(4);
  for (const block of code) {
    expect(block.file, `a \`\`\`${block.lang} block without <!-- file: … -->:\n${block.body.slice(0, 200)}`).toBeDefined();
    expect(block.body.trimEnd()).toBe(readFileSync(resolve(root, block.file!), 'utf8').trimEnd());
  }
});

it('every file the README shows is imported by a test that runs it', () => {
  for (const block of blocks.filter((b) => b.file)) {
    const module = block.file!.replace(/^docs\/examples\//, '').replace(/\.ts$/, '');
    expect(RUN_BY, `${block.file} is not run by a test`).toContain(`examples/${module}`);
  }
});
