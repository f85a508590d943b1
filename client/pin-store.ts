import { fromBase64Url, toBase64Url } from '../protocol/bytes.js';
import { writeFileAtomic } from '../node/atomic-write.js';
import { FileError } from '../node/errors.js';
import { parsePrivateJson, readPrivateFile } from '../node/private-file.js';
import { checkPinKey, type PinStore } from '../web/pin-store.js';

export { MemoryPinStore, samePin, type PinStore } from '../web/pin-store.js';

/**
 * Pins in a 0600 JSON file, written atomically: `{ "version": 1, "pins": { "<daemonId>": "<base64url key>" } }`.
 * Every call re-reads the file, so two processes sharing it see each other's pins; writes from
 * one process are serialized.
 *
 *   const pins = new FilePinStore(join(homedir(), '.sideband', 'pins.json'));
 */
export class FilePinStore implements PinStore {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly path: string) {}

  async get(daemonId: string): Promise<Uint8Array | undefined> {
    const pins = await this.read();
    return pins.get(daemonId);
  }

  async pin(daemonId: string, key: Uint8Array): Promise<Uint8Array> {
    checkPinKey(key);
    return this.update((pins) => {
      const existing = pins.get(daemonId);
      if (existing) return existing;
      pins.set(daemonId, key.slice());
      return key.slice();
    });
  }

  async approve(daemonId: string, key: Uint8Array): Promise<void> {
    checkPinKey(key);
    return this.update((pins) => {
      pins.set(daemonId, key.slice());
    });
  }

  remove(daemonId: string): Promise<void> {
    return this.update((pins) => {
      pins.delete(daemonId);
    });
  }

  private update<T>(change: (pins: Map<string, Uint8Array>) => T): Promise<T> {
    const run = this.queue.then(async () => {
      const pins = await this.read();
      const before = serialize(pins);
      const result = change(pins);
      const after = serialize(pins);
      if (after !== before) await writeFileAtomic(this.path, after, { mode: 0o600 });
      return result;
    });
    this.queue = run.catch(() => {});
    return run;
  }

  private async read(): Promise<Map<string, Uint8Array>> {
    const text = await readPrivateFile(this.path);
    const pins = new Map<string, Uint8Array>();
    if (text === undefined) return pins;
    const json = parsePrivateJson(text, this.path) as { version?: unknown; pins?: unknown } | null;
    const malformed = (why: string): FileError => new FileError('file_malformed', `pin file ${this.path}: ${why}`, this.path);
    if (typeof json !== 'object' || json === null || json.version !== 1) throw malformed('expected version 1');
    if (typeof json.pins !== 'object' || json.pins === null || Array.isArray(json.pins)) throw malformed('pins must be an object');
    for (const [daemonId, value] of Object.entries(json.pins)) {
      let key: Uint8Array;
      try {
        key = fromBase64Url(String(value));
      } catch {
        throw malformed(`pin of ${JSON.stringify(daemonId)} is not base64url`);
      }
      if (key.length !== 32 || typeof value !== 'string') throw malformed(`pin of ${JSON.stringify(daemonId)} is not a 32-byte key`);
      pins.set(daemonId, key);
    }
    return pins;
  }
}

function serialize(pins: Map<string, Uint8Array>): string {
  const object: Record<string, string> = {};
  for (const [daemonId, key] of [...pins].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) object[daemonId] = toBase64Url(key);
  return `${JSON.stringify({ version: 1, pins: object }, null, 2)}\n`;
}
