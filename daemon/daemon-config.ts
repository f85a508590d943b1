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

export interface RotatedKeyOptions {
  /** The config the key came from, re-read once when the relay refuses the key; none for a key given as a flag. */
  configPath?: string;
  apiKey: string;
  /** The underlying fetch (default: the global one). */
  fetch?: typeof fetch;
  /** The config held a new key (`--rotate-key` ran elsewhere): calls now use it. */
  onRotated?: (apiKey: string) => void;
  /** The relay refused the key and the config holds no other: nothing will work until a human acts. */
  onRefused?: () => void;
}

/**
 * A control-plane `fetch` for a long-running daemon whose API key may be rotated under it
 * (`--rotate-key` from another shell saves the new key in the config; the relay forgets the old
 * one at once). Calls carrying the daemon's key that get 401 re-read the config once per refused
 * key and retry with a newer key found there; otherwise `onRefused` runs, so the daemon can stop
 * with a message instead of retrying `unauthorized` forever. Calls with other bearers pass as is.
 *
 *   const keys = followRotatedKey({ configPath, apiKey, onRefused: () => stop() });
 *   await listen({ relay, apiKey, identity, fetch: app.fetch, controlPlaneFetch: keys.fetch });
 */
export function followRotatedKey(options: RotatedKeyOptions): { fetch: typeof fetch; apiKey(): string } {
  const base = options.fetch ?? ((input, init) => fetch(input, init));
  const known = new Set([options.apiKey]);
  const reread = new Set<string>();
  let current = options.apiKey;
  const withKey = (init: RequestInit | undefined, key: string): RequestInit => {
    const headers = new Headers(init?.headers);
    headers.set('authorization', `Bearer ${key}`);
    return { ...init, headers };
  };
  const keyed: typeof fetch = async (input, init) => {
    const bearer = new Headers(init?.headers).get('authorization')?.replace(/^Bearer /, '');
    // Only calls made with this daemon's key (old or new); bodies are JSON strings, safe to resend.
    if (bearer === undefined || !known.has(bearer)) return base(input, init);
    const used = current;
    const response = await base(input, withKey(init, used));
    if (response.status !== 401) return response;
    if (used !== current) {
      await response.body?.cancel(); // a concurrent call found the new key meanwhile
      return keyed(input, withKey(init, current));
    }
    if (options.configPath !== undefined && !reread.has(used)) {
      reread.add(used);
      const config = await loadDaemonConfig(options.configPath).catch(() => undefined);
      if (config && !known.has(config.apiKey)) {
        known.add(config.apiKey);
        current = config.apiKey;
        options.onRotated?.(current);
        await response.body?.cancel();
        return keyed(input, withKey(init, current));
      }
    }
    options.onRefused?.();
    return response;
  };
  return { fetch: keyed, apiKey: () => current };
}
