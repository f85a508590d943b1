/**
 * A minimal typed event emitter. Listeners can be tied to an AbortSignal (style.md §14), and a
 * throwing listener cannot corrupt the emitter's caller: its error is rethrown on a microtask,
 * like `reportError` in a browser.
 *
 *   const off = emitter.on('message', (e) => console.log(e.data), { signal });
 */
export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<(event: never) => void>>();

  on<K extends keyof Events>(type: K, listener: (event: Events[K]) => void, options: { signal?: AbortSignal } = {}): () => void {
    const { signal } = options;
    if (signal?.aborted) return () => {};
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    const fn = listener as (event: never) => void;
    set.add(fn);
    const off = (): void => {
      set.delete(fn);
      signal?.removeEventListener('abort', off);
    };
    signal?.addEventListener('abort', off, { once: true });
    return off;
  }

  /** Resolves with the next event of `type`. */
  once<K extends keyof Events>(type: K): Promise<Events[K]> {
    return new Promise((resolve) => {
      const off = this.on(type, (event) => {
        off();
        resolve(event);
      });
    });
  }

  emit<K extends keyof Events>(type: K, event: Events[K]): void {
    const set = this.listeners.get(type);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as (event: Events[K]) => void)(event);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  removeAll(): void {
    this.listeners.clear();
  }
}
