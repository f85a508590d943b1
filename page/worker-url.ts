import { SidebandError } from './sideband-error.js';

/** The worker's own check (sw/worker-config.ts): it silently falls back to the default on anything else. */
const PREFIX = /^\/([A-Za-z0-9._~-]+\/)+$/;

/**
 * The script URL the worker is registered with: its settings travel in the query, the one
 * thing a worker can read synchronously at start. A changed query is a changed script URL, so
 * the browser installs the worker again with the new settings.
 *
 * @example
 *   workerScriptUrl('/sideband-sw.js', '/sideband/', 'https://relay.example')
 *   // '/sideband-sw.js?prefix=%2Fsideband%2F&relay=https%3A%2F%2Frelay.example'
 */
export function workerScriptUrl(scriptUrl: string, prefix: string, relay?: string): string {
  // Refused here, loudly: the worker would quietly use '/sideband/' and the app's fetches to
  // its own prefix would go to the origin server instead.
  if (!PREFIX.test(prefix)) throw new SidebandError('invalid_options', `prefix must look like '/sideband/' (leading and trailing slash), got '${prefix}'`);
  const params = new URLSearchParams({ prefix });
  if (relay !== undefined) params.set('relay', relay);
  return `${scriptUrl}${scriptUrl.includes('?') ? '&' : '?'}${params}`;
}
