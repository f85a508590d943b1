import type { ClientEvents, RelayClient } from '../../web/client-types.js';
import type { DaemonConnection, DaemonEvents } from '../../daemon/daemon-types.js';

/** Polls `predicate` every 10 ms until it is truthy or `timeoutMs` passes (then throws `what`). */
export async function waitFor<T>(predicate: () => T | undefined | false | null | Promise<T | undefined | false | null>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

type Listener = (event: never) => void;
interface Loose {
  on(type: string, listener: Listener): () => void;
}

/** The next event of `type` (matching `filter`) within `timeoutMs`. */
export function nextEvent<K extends keyof ClientEvents>(source: RelayClient, type: K, timeoutMs?: number, filter?: (event: ClientEvents[K]) => boolean): Promise<ClientEvents[K]>;
export function nextEvent<K extends keyof DaemonEvents>(source: DaemonConnection, type: K, timeoutMs?: number, filter?: (event: DaemonEvents[K]) => boolean): Promise<DaemonEvents[K]>;
export function nextEvent(source: RelayClient | DaemonConnection, type: string, timeoutMs = 10_000, filter: (event: never) => boolean = () => true): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for event ${type}`));
    }, timeoutMs);
    const off = (source as unknown as Loose).on(type, (event: never) => {
      if (!filter(event)) return;
      clearTimeout(timer);
      off();
      resolve(event);
    });
  });
}

/** Collects every event of `type` into an array (its `stop()` removes the listener). */
export function collect<K extends keyof ClientEvents>(source: RelayClient, type: K): Collected<ClientEvents[K]>;
export function collect<K extends keyof DaemonEvents>(source: DaemonConnection, type: K): Collected<DaemonEvents[K]>;
export function collect(source: RelayClient | DaemonConnection, type: string): Collected<unknown> {
  const events = [] as unknown as Collected<unknown>;
  events.stop = (source as unknown as Loose).on(type, (event: never) => events.push(event));
  return events;
}

export type Collected<T> = T[] & { stop: () => void };

export const text = (data: Uint8Array): string => new TextDecoder().decode(data);
export const bytes = (value: string): Uint8Array => new TextEncoder().encode(value);
