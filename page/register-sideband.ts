import type { Sideband } from './sideband.js';
import { browserControlEnvironment, ensureControl } from './ensure-control.js';
import { PAGE_DEFAULTS } from './page-defaults.js';
import { SidebandSession } from './sideband-session.js';
import { SidebandError } from './sideband-error.js';
import { workerScriptUrl } from './worker-url.js';

export interface RegisterOptions {
  /** The built worker script (default `/sideband-sw.js`). */
  scriptUrl?: string;
  /** The registration scope; the page must be inside it (default `/`). */
  scope?: string;
  /** Path prefix the worker sends to the daemon (default `/sideband/`); passed to it as `?prefix=`. */
  prefix?: string;
  /** Relay base URL used for pairing; passed to the worker as `?relay=` when given. */
  relay?: string;
  /** Heartbeat to the worker while the page is visible (default 15000 ms); keeps it alive. */
  heartbeatMs?: number;
  /** How long to wait for the worker to take control of the page (default 5000 ms). */
  controlTimeoutMs?: number;
}

/**
 * Registers the sideband service worker, makes sure it controls this page, and says hello.
 * After it resolves, `fetch('/sideband/...')` from this page goes to the daemon.
 *
 * A page loaded with a hard reload is not controlled by any worker; this reloads it once
 * (guarded, never in a loop) and otherwise rejects with `not_controlled`.
 *
 * @example
 *   const sideband = await registerSideband({ relay: 'https://relay.example' });
 *   const files = await (await fetch('/sideband/api/files?dir=src')).json();
 */
export async function registerSideband(options: RegisterOptions = {}): Promise<Sideband> {
  if (typeof navigator === 'undefined' || !('serviceWorker' in navigator)) {
    throw new SidebandError('unsupported', 'service workers are unavailable here (they need a secure context: https, or http://localhost)');
  }
  const settings = { ...PAGE_DEFAULTS, ...definedOnly(options) };
  for (const key of ['heartbeatMs', 'controlTimeoutMs'] as const) {
    // 0 or NaN would spin a timer or never wait: refused before anything is registered
    if (!(settings[key] > 0)) throw new SidebandError('invalid_options', `${key} must be a positive number of milliseconds, got ${String(settings[key])}`);
  }
  const url = workerScriptUrl(settings.scriptUrl, settings.prefix, options.relay);
  let registration: ServiceWorkerRegistration;
  try {
    // Classic script: Firefox 140 has no module workers. 'none': the browser revalidates the
    // script and its imports on every update check, so a fixed worker reaches users at once.
    registration = await navigator.serviceWorker.register(url, { scope: settings.scope, type: 'classic', updateViaCache: 'none' });
  } catch (error) {
    throw new SidebandError('register_failed', `the service worker ${url} could not be registered: ${error instanceof Error ? error.message : String(error)}`);
  }
  // `ready` only settles for a registration whose scope covers this page: fail now, not never.
  if (!location.href.startsWith(registration.scope)) {
    throw new SidebandError('not_controlled', `this page (${location.pathname}) is outside the service worker's scope ${registration.scope}`);
  }
  await ensureControl(browserControlEnvironment(), settings);
  const sideband = new SidebandSession(navigator.serviceWorker, settings);
  try {
    await sideband.start();
  } catch (error) {
    sideband.close();
    throw error;
  }
  return sideband;
}

/** `{ heartbeatMs: undefined }` must not override the default. */
function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}
