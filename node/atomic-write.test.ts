import { mkdtemp, readdir, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from './atomic-write.js';
import { parsePrivateJson, readPrivateFile } from './private-file.js';

describe('atomic private files', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sideband-node-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes with mode 0600, replaces atomically and leaves no temp file', async () => {
    const path = join(dir, 'sub', 'secret.json');
    await writeFileAtomic(path, 'one');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'sub'))).mode & 0o777).toBe(0o700);
    await writeFileAtomic(path, 'two');
    expect(await readFile(path, 'utf8')).toBe('two');
    expect(await readdir(join(dir, 'sub'))).toEqual(['secret.json']);
  });

  it('exclusive mode refuses to replace an existing file', async () => {
    const path = join(dir, 'id.json');
    await writeFileAtomic(path, 'first', { exclusive: true });
    await expect(writeFileAtomic(path, 'second', { exclusive: true })).rejects.toMatchObject({ code: 'EEXIST' });
    expect(await readFile(path, 'utf8')).toBe('first');
    expect(await readdir(dir)).toEqual(['id.json']);
  });

  it('reads a private file, refuses group/world access, and reports a missing one as undefined', async () => {
    const path = join(dir, 'p.json');
    expect(await readPrivateFile(path)).toBeUndefined();
    await writeFileAtomic(path, '{"a":1}');
    expect(parsePrivateJson((await readPrivateFile(path))!, path)).toEqual({ a: 1 });
    for (const mode of [0o640, 0o604, 0o620, 0o666]) {
      await chmod(path, mode);
      await expect(readPrivateFile(path)).rejects.toMatchObject({ name: 'FileError', code: 'file_insecure', path });
    }
    await expect(readPrivateFile(dir)).rejects.toMatchObject({ code: 'file_insecure' });
    expect(() => parsePrivateJson('{oops', path)).toThrow(expect.objectContaining({ code: 'file_malformed' }));
  });

  it('refuses an oversized private file', async () => {
    const path = join(dir, 'big.json');
    await writeFile(path, Buffer.alloc(1024 * 1024 + 1, 0x20), { mode: 0o600 });
    await expect(readPrivateFile(path)).rejects.toMatchObject({ code: 'file_malformed' });
  });
});
