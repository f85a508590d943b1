/** What the heartbeat needs of `document`. */
export interface VisibilitySource {
  readonly visibilityState: DocumentVisibilityState;
  addEventListener(type: 'visibilitychange', listener: () => void, options: { signal: AbortSignal }): void;
}

export interface PageHeartbeatOptions {
  intervalMs: number;
  /** Posts `{ v, type: 'heartbeat' }` to the controller. */
  beat: () => void;
  /** Called on every return to visible, after the immediate beat (the page re-runs its hello). */
  onVisible: () => void;
  /** Aborting stops the timer and removes the listener (style.md §14). */
  signal: AbortSignal;
  document?: VisibilitySource;
}

/**
 * Keeps the worker alive while the page is visible: each `postMessage` is an event that extends
 * a worker's life, which otherwise ends ~30 s after its last event even with its WebSocket open
 * (service-worker.md "Lifetime"). Hidden pages stop beating (browsers throttle their timers to
 * once a minute anyway) and beat at once on return, when the worker may have stopped.
 *
 * @example
 *   startPageHeartbeat({ intervalMs: 15_000, beat, onVisible: () => void hello(), signal });
 */
export function startPageHeartbeat(options: PageHeartbeatOptions): void {
  const { intervalMs, beat, onVisible, signal } = options;
  const doc = options.document ?? document;
  let timer: ReturnType<typeof setInterval> | undefined;
  const stop = (): void => {
    clearInterval(timer);
    timer = undefined;
  };
  const start = (): void => {
    stop();
    timer = setInterval(beat, intervalMs);
  };
  if (signal.aborted) return;
  signal.addEventListener('abort', stop, { once: true });
  doc.addEventListener(
    'visibilitychange',
    () => {
      if (doc.visibilityState !== 'visible') return stop();
      beat();
      onVisible();
      start();
    },
    { signal },
  );
  if (doc.visibilityState === 'visible') start();
}
