import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');

/**
 * Every known-answer vector file (style.md §10): test/vectors/*.json, ../shared/vectors/*.json,
 * and each path in SBRP_VECTORS (comma-separated). Every implementation of a primitive runs all of them.
 */
export function vectorFiles(): string[] {
  const files: string[] = [];
  for (const dir of [join(root, 'test/vectors'), resolve(root, '../shared/vectors')]) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) if (name.endsWith('.json')) files.push(join(dir, name));
  }
  for (const path of (process.env.SBRP_VECTORS ?? '').split(',').map((p) => p.trim()).filter(Boolean)) files.push(resolve(path));
  return files;
}
