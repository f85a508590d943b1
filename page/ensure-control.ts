import { SidebandError } from './sideband-error.js';
import { requestStatus } from './worker-request.js';

/** The browser surfaces control depends on, injectable so the decision logic stays testable. */
export interface ControlEnvironment {
  container: Pick<ServiceWorkerContainer, 'controller' | 'ready' | 'addEventListener'>;
  /** `location.reload()`; the page is gone after it. */
  reload(): void;
  /** `sessionStorage`, or undefined where it is unavailable (then no reload: nothing could stop a loop). */
  storage?: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;
}

export interface ControlOptions {
  controlTimeoutMs: number;
  activateTimeoutMs: number;
  reloadFlagKey: string;
}

/**
 * Resolves with the controlling worker once the page is controlled. A page can be uncontrolled
 * with an active worker (service-worker.md "Fetch interception"): on first install, when it
 * loaded while the worker was activating (1 in 5 tabs seen missing `clients.claim()`), and after
 * a hard reload. The first is fixed by asking the worker to claim again; the second only by a
 * normal reload, done once, guarded by a sessionStorage flag so it can never loop.
 *
 * @example
 *   const controller = await ensureControl(browserControlEnvironment(), PAGE_DEFAULTS);
 */
export async function ensureControl(env: ControlEnvironment, options: ControlOptions): Promise<ServiceWorker> {
  const { container } = env;
  const registration = await within(
    container.ready,
    options.activateTimeoutMs,
    () => new SidebandError('worker_timeout', `the service worker did not activate within ${options.activateTimeoutMs} ms (did its install fail? see the browser console)`),
  );
  if (!container.controller && registration.active) await claim(env, registration.active, options.controlTimeoutMs);
  const controller = container.controller;
  if (controller) {
    clearFlag(env, options.reloadFlagKey);
    return controller;
  }
  if (reloadOnce(env, options.reloadFlagKey)) return new Promise<never>(() => {}); // the page is being replaced
  clearFlag(env, options.reloadFlagKey); // the guard has done its job; a later hard reload may try once more
  throw new SidebandError(
    'not_controlled',
    'the sideband service worker does not control this page (after a hard reload, Shift+Reload, browsers bypass it): reload the page normally',
  );
}

/** The environment of the current document. */
export function browserControlEnvironment(): ControlEnvironment {
  let storage: Storage | undefined;
  try {
    storage = sessionStorage; // throws in sandboxed frames and with storage disabled
  } catch {
    storage = undefined;
  }
  return { container: navigator.serviceWorker, reload: () => location.reload(), storage };
}

/** Asks the active worker to `clients.claim()` and waits for `controllerchange`, at most `timeoutMs`. */
async function claim(env: ControlEnvironment, active: ServiceWorker, timeoutMs: number): Promise<void> {
  const done = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const changed = new Promise<void>((resolve) => env.container.addEventListener('controllerchange', () => resolve(), { once: true, signal: done.signal }));
    const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    // Only a refusal matters here (another version); a lost reply is covered by the wait.
    const refused = requestStatus(active, { type: 'claim' }, { timeoutMs, signal: done.signal }).then(
      () => new Promise<never>(() => {}),
      (error: unknown) => {
        if (error instanceof SidebandError && error.code === 'version_mismatch') throw error;
        return new Promise<never>(() => {});
      },
    );
    await Promise.race([changed, timedOut, refused]);
  } finally {
    clearTimeout(timer);
    done.abort(new SidebandError('closed', 'control settled'));
  }
}

function reloadOnce(env: ControlEnvironment, key: string): boolean {
  try {
    if (!env.storage || env.storage.getItem(key) !== null) return false;
    env.storage.setItem(key, String(Date.now()));
  } catch {
    return false; // a guard we cannot write is no guard
  }
  env.reload();
  return true;
}

function clearFlag(env: ControlEnvironment, key: string): void {
  try {
    env.storage?.removeItem(key);
  } catch {
    // nothing to clear where storage is unavailable
  }
}

function within<T>(promise: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(error()), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
