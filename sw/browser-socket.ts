import { HEADER_LENGTH, MAX_PAYLOAD } from '../protocol/codes.js';
import { ConnectionError } from '../web/errors.js';
import type { OpenRelaySocket, RelaySocket, RelaySocketHandlers } from '../web/relay-socket.js';

export const BROWSER_SOCKET_DEFAULTS = Object.freeze({
  /** Time allowed for TCP, TLS and the upgrade. */
  timeoutMs: 15_000,
  /** Frames that may arrive between `open` and `start()` (normally none). */
  maxEarlyFrames: 64,
});

/**
 * The browser's WebSocket as the connection loop's socket (web/relay-socket.ts). The token
 * rides in `?token=` (sbrp.md §5: the only way a browser can send one; the relay redacts it in
 * logs). A browser says nothing about a refused upgrade (no status, just close 1006), so every
 * failure before `open` is `connection_failed`; the loop retries with backoff, and the token
 * request before it is what surfaces a revoked device.
 */
export function browserSocketOpener(options: { timeoutMs?: number } = {}): OpenRelaySocket {
  return (url, token, signal) =>
    new Promise<RelaySocket>((resolve, reject) => {
      if (signal.aborted) return reject(new ConnectionError('closed', 'connection attempt aborted'));
      const target = new URL(url);
      target.searchParams.set('token', token);
      let ws: WebSocket;
      try {
        ws = new WebSocket(target.toString());
      } catch (error) {
        return reject(new ConnectionError('connection_failed', `relay connection failed: ${(error as Error).message}`));
      }
      ws.binaryType = 'arraybuffer';
      const early: Uint8Array[] = [];
      let handlers: RelaySocketHandlers | undefined;
      let closed = false;
      let textSeen = false;
      const onMessage = (event: MessageEvent): void => {
        if (typeof event.data === 'string') {
          if (handlers) handlers.text();
          else textSeen = true;
          return;
        }
        const bytes = new Uint8Array(event.data as ArrayBuffer);
        if (handlers) handlers.message(bytes);
        else if (early.length < BROWSER_SOCKET_DEFAULTS.maxEarlyFrames && bytes.length <= HEADER_LENGTH + MAX_PAYLOAD) early.push(bytes);
        else textSeen = true; // more than any valid opening sequence: treat as malformed
      };
      const onClose = (): void => {
        if (closed) return;
        closed = true;
        handlers?.close();
      };
      const timer = setTimeout(() => fail(new ConnectionError('connection_failed', 'relay connection timed out')), options.timeoutMs ?? BROWSER_SOCKET_DEFAULTS.timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        ws.removeEventListener('open', onOpen);
        ws.removeEventListener('error', onError);
      };
      const fail = (error: Error): void => {
        cleanup();
        ws.removeEventListener('message', onMessage);
        ws.removeEventListener('close', onClose);
        try {
          ws.close();
        } catch {
          // already closing
        }
        reject(error);
      };
      const onAbort = (): void => fail(new ConnectionError('closed', 'connection attempt aborted'));
      const onError = (): void => fail(new ConnectionError('connection_failed', 'relay connection failed (unreachable, or the upgrade was refused)'));
      const onOpen = (): void => {
        cleanup();
        resolve(socket);
      };
      const socket: RelaySocket = {
        get bufferedAmount() {
          return ws.bufferedAmount;
        },
        send(frame) {
          if (ws.readyState === WebSocket.OPEN) ws.send(frame);
        },
        start(h) {
          handlers = h;
          if (textSeen) h.text();
          for (const frame of early.splice(0)) h.message(frame);
          if (closed || ws.readyState === WebSocket.CLOSED) {
            closed = false;
            onClose();
          }
        },
        terminate() {
          ws.removeEventListener('message', onMessage);
          if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close(1000);
          onClose();
        },
        close() {
          socket.terminate();
          return Promise.resolve();
        },
      };
      ws.addEventListener('message', onMessage);
      ws.addEventListener('close', onClose);
      ws.addEventListener('open', onOpen);
      ws.addEventListener('error', onError);
      signal.addEventListener('abort', onAbort, { once: true });
    });
}
