/**
 * Unit tests of the control decisions (claim, one guarded reload, then a clear error) with a
 * fake ServiceWorkerContainer under Node. Real first loads and hard reloads are tested in the
 * browser end-to-end tests.
 */
import { describe, expect, it } from 'vitest';
import { MESSAGE_PROTOCOL_VERSION as v } from '../sw/messages.js';
import { ensureControl, type ControlEnvironment } from './ensure-control.js';

const options = { controlTimeoutMs: 30, activateTimeoutMs: 1_000, reloadFlagKey: 'flag' };
const status = { state: 'idle', bootId: 'b', aead: 'noble' };

class FakeWorker {
  readonly received: string[] = [];
  constructor(private readonly onClaim: () => unknown) {}
  postMessage(message: { type: string; port: MessagePort }): void {
    this.received.push(message.type);
    message.port.postMessage(this.onClaim());
    message.port.close();
  }
}

function environment(claimWorks: boolean, reply: unknown = { ok: true, status }, storage = new Map<string, string>()) {
  const container = new EventTarget() as EventTarget & { controller: ServiceWorker | null; ready: Promise<ServiceWorkerRegistration> };
  const controller = { name: 'controller' } as unknown as ServiceWorker;
  const active = new FakeWorker(() => {
    if (claimWorks) {
      container.controller = controller;
      container.dispatchEvent(new Event('controllerchange'));
    }
    return reply;
  });
  container.controller = null;
  container.ready = Promise.resolve({ active } as unknown as ServiceWorkerRegistration);
  let reloads = 0;
  const env: ControlEnvironment = {
    container: container as unknown as ControlEnvironment['container'],
    reload: () => reloads++,
    storage: { getItem: (key) => storage.get(key) ?? null, setItem: (key, value) => void storage.set(key, value), removeItem: (key) => void storage.delete(key) },
  };
  return { env, container, controller, active, storage, reloads: () => reloads };
}

describe('ensureControl', () => {
  it('returns the controller at once when there is one', async () => {
    const { env, container, active } = environment(true);
    const controller = { name: 'already' } as unknown as ServiceWorker;
    container.controller = controller;
    await expect(ensureControl(env, options)).resolves.toBe(controller);
    expect(active.received).toEqual([]);
  });

  it('asks the active worker to claim an uncontrolled page', async () => {
    const { env, controller, active } = environment(true);
    await expect(ensureControl(env, options)).resolves.toBe(controller);
    expect(active.received).toEqual(['claim']);
  });

  it('reloads once when the claim does not take, and clears the guard when control came', async () => {
    const first = environment(false);
    const pending = ensureControl(first.env, options);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(first.reloads()).toBe(1);
    expect(first.storage.has('flag')).toBe(true);
    void pending; // never settles: the page is being replaced

    // the reloaded page, now controlled
    const second = environment(true, undefined, first.storage);
    await ensureControl(second.env, options);
    expect(second.storage.has('flag')).toBe(false);
  });

  it('rejects not_controlled instead of reloading twice', async () => {
    const storage = new Map([['flag', '1']]);
    const { env, reloads } = environment(false, undefined, storage);
    await expect(ensureControl(env, options)).rejects.toMatchObject({ code: 'not_controlled' });
    expect(reloads()).toBe(0);
    expect(storage.has('flag')).toBe(false); // a later hard reload may try its one reload again
  });

  it('does not reload without storage for the guard', async () => {
    const { env, reloads } = environment(false);
    await expect(ensureControl({ ...env, storage: undefined }, options)).rejects.toMatchObject({ code: 'not_controlled' });
    expect(reloads()).toBe(0);
  });

  it('refuses a worker of another version', async () => {
    const { env } = environment(false, { ok: false, code: 'version_mismatch', message: `expected v${v + 1}` });
    const original = console.error;
    console.error = () => {};
    try {
      await expect(ensureControl(env, options)).rejects.toMatchObject({ code: 'version_mismatch' });
    } finally {
      console.error = original;
    }
  });
});
