import { MESSAGE_PROTOCOL_VERSION, type SidebandStatus } from '../sw/messages.js';
import { SidebandError } from './sideband-error.js';
import { replyStatus, versionMismatch, type RequestMessage } from './worker-messages.js';

/** Where requests go: the controlling worker (or, before control, `registration.active`). */
export interface MessageTarget {
  postMessage(message: unknown, transfer: Transferable[]): void;
}

export interface RequestOptions {
  timeoutMs: number;
  /** Aborting rejects the request with the signal's reason (the library's `close()`). */
  signal?: AbortSignal;
}

/**
 * Sends one request on a fresh MessageChannel (style.md §6: replies on a port) and resolves
 * with the status of its one Reply; `ok: false` rejects with the worker's code.
 *
 * @example
 *   const status = await requestStatus(navigator.serviceWorker.controller!, { type: 'hello' }, { timeoutMs: 10_000 });
 */
export function requestStatus(target: MessageTarget, message: RequestMessage, options: RequestOptions): Promise<SidebandStatus> {
  const { timeoutMs, signal } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const { port1, port2 } = new MessageChannel();
  return new Promise<SidebandStatus>((resolve, reject) => {
    const done = new AbortController();
    const finish = (settle: () => void): void => {
      if (done.signal.aborted) return;
      done.abort();
      clearTimeout(timer);
      // A closed port lets the page collect the channel; the worker answers once anyway.
      port1.close();
      settle();
    };
    const timer = setTimeout(
      () => finish(() => reject(new SidebandError('worker_timeout', `the service worker did not answer '${message.type}' within ${timeoutMs} ms`))),
      timeoutMs,
    );
    signal?.addEventListener('abort', () => finish(() => reject(signal.reason)), { once: true, signal: done.signal });
    port1.addEventListener(
      'message',
      (event: MessageEvent) =>
        finish(() => {
          try {
            resolve(replyStatus(event.data));
          } catch (error) {
            // The worker refused our `v`: as loud as a broadcast of another version.
            reject(error instanceof SidebandError && error.code === 'version_mismatch' ? versionMismatch(`the worker said: ${error.message}`) : error);
          }
        }),
      { signal: done.signal },
    );
    port1.start();
    try {
      target.postMessage({ ...message, v: MESSAGE_PROTOCOL_VERSION, port: port2 }, [port2]);
    } catch (error) {
      finish(() => reject(error));
    }
  });
}
