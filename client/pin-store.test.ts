import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FilePinStore, MemoryPinStore, type PinStore } from './pin-store.js';

const key = (n: number): Uint8Array => new Uint8Array(32).fill(n);

describe('pin stores', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sideband-pins-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const [name, make] of [
    ['file', () => new FilePinStore(join(dir, 'pins.json'))],
    ['memory', () => new MemoryPinStore()],
  ] as const) {
    it(`${name}: first contact pins, never replaces; approve replaces; remove forgets`, async () => {
      const store: PinStore = make();
      expect(await store.get('d1')).toBeUndefined();
      expect(await store.pin('d1', key(1))).toEqual(key(1));
      expect(await store.pin('d1', key(2))).toEqual(key(1)); // a different key never replaces a pin
      expect(await store.get('d1')).toEqual(key(1));
      await store.approve('d1', key(2));
      expect(await store.get('d1')).toEqual(key(2));
      await store.pin('d2', key(3));
      await store.remove('d1');
      expect(await store.get('d1')).toBeUndefined();
      expect(await store.get('d2')).toEqual(key(3));
      await expect(store.pin('d3', new Uint8Array(31))).rejects.toThrow(TypeError);
    });
  }

  it('file: 0600, shared between instances, serialized writes', async () => {
    const path = join(dir, 'pins.json');
    const a = new FilePinStore(path);
    const b = new FilePinStore(path);
    await Promise.all(Array.from({ length: 20 }, (_, i) => a.pin(`d${i}`, key(i + 1))));
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    for (let i = 0; i < 20; i++) expect(await b.get(`d${i}`)).toEqual(key(i + 1));
    expect(Object.keys((JSON.parse(await readFile(path, 'utf8')) as { pins: object }).pins)).toHaveLength(20);
  });

  it('file: refuses an insecure or malformed pin file', async () => {
    const path = join(dir, 'pins.json');
    const store = new FilePinStore(path);
    await store.pin('d', key(1));
    await chmod(path, 0o644);
    await expect(store.get('d')).rejects.toMatchObject({ code: 'file_insecure' });
    for (const text of ['{', '{"version":2,"pins":{}}', '{"version":1,"pins":[]}', '{"version":1,"pins":{"d":"short"}}', '{"version":1,"pins":{"d":5}}']) {
      await writeFile(path, text, { mode: 0o600 });
      await chmod(path, 0o600);
      await expect(store.get('d'), text).rejects.toMatchObject({ code: 'file_malformed' });
    }
  });
});
