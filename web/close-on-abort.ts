/**
 * Calls `close` when the caller's `signal` aborts (or soon, if it already has), until `until`
 * aborts: the owner's own teardown removes the listener, so a long-lived caller signal does
 * not keep a closed connection reachable.
 */
export function closeOnAbort(signal: AbortSignal | undefined, close: () => void, until: AbortSignal): void {
  if (!signal) return;
  if (signal.aborted) queueMicrotask(close);
  else signal.addEventListener('abort', close, { once: true, signal: until });
}
