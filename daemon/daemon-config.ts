import { basename, dirname, join } from 'node:path';
import { writeFileAtomic } from '../node/atomic-write.js';
import { FileError } from '../node/errors.js';
import { parsePrivateJson, readPrivateFile } from '../node/private-file.js';

/**
 * What `--register` saves so the next run needs no flags: the daemon id and its API key (a
 * secret, hence 0600), and the relay it registered with.
 *   { "version": 1, "relay": "http://…", "daemonId": "…", "apiKey": "…" }
 */
export interface DaemonConfig {
  relay?: string;
  daemonId: string;
  apiKey: string;
}

/** `identity.json` → `identity.config.json`, in the same directory. */
export function configPathFor(identityPath: string): string {
  const name = basename(identityPath).replace(/\.json$/i, '');
  return join(dirname(identityPath), `${name}.config.json`);
}

export async function loadDaemonConfig(path: string): Promise<DaemonConfig | undefined> {
  const text = await readPrivateFile(path);
  if (text === undefined) return undefined;
  const json = parsePrivateJson(text, path) as Record<string, unknown> | null;
  const ok =
    typeof json === 'object' && json !== null && json.version === 1 &&
    typeof json.daemonId === 'string' && json.daemonId !== '' &&
    typeof json.apiKey === 'string' && json.apiKey !== '' &&
    (json.relay === undefined || typeof json.relay === 'string');
  if (!ok) throw new FileError('file_malformed', `daemon config ${path} must hold version 1, daemonId and apiKey`, path);
  return { daemonId: json.daemonId as string, apiKey: json.apiKey as string, relay: json.relay as string | undefined };
}

export async function saveDaemonConfig(path: string, config: DaemonConfig): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify({ version: 1, ...config }, null, 2)}\n`, { mode: 0o600 });
}
