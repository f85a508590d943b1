import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { HEADER_LENGTH, MAX_PAYLOAD } from '../protocol/codes.js';
import { ConnectionError, type ConnectionErrorCode } from '../web/errors.js';
import type { OpenRelaySocket, RelaySocket } from '../web/relay-socket.js';
import { corkForTurn } from './cork-for-turn.js';
import { RelayPreconnect } from './relay-preconnect.js';

export interface OpenRelaySocketOptions {
  /** Time allowed for TCP, TLS and the HTTP upgrade (default 15 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** A connection to the relay opened ahead (relay-preconnect.ts), used instead of a new one. */
  socket?: Socket;
}

export const RELAY_SOCKET_DEFAULTS = { timeoutMs: 15_000 } as const;

/**
 * A masking key of zeros, which `ws` recognises and skips: no copy and XOR of every frame.
 * RFC 6455 masks client frames so that a script in a browser cannot make a client put bytes
 * of its choosing on the wire for a confused proxy to read as HTTP (§10.3). This client is no
 * browser, and what it sends is SBRP frames whose payloads are AEAD ciphertext under keys no
 * script knows; masking them protects nothing and cost ~10% of an endpoint's CPU (issue 9).
 */
function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

/**
 * Opens the WebSocket to the relay with the token as `Authorization: Bearer` (sbrp.md §5,
 * never in the URL from Node, so it cannot end up in a log line). Resolves once open; a refused
 * upgrade rejects with a {@link ConnectionError} named after the HTTP status.
 *
 * The socket comes back **paused**: the relay may send a frame right behind the upgrade (a
 * Control `daemon_offline`, say), and it would be emitted before a caller awaiting this promise
 * could attach its listener. Attach `message`/`close` listeners, then call `ws.resume()`.
 *
 *   const ws = await openRelaySocket(url, token);
 *   ws.on('message', onMessage);
 *   ws.resume();
 */
export function openRelaySocket(url: string, token: string, options: OpenRelaySocketOptions = {}): Promise<WebSocket> {
  const { signal } = options;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new ConnectionError('closed', 'connection attempt aborted'));
      return;
    }
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${token}` },
      perMessageDeflate: false,
      // A frame is at most 13 + 65536 bytes (sbrp.md §1); anything larger is never valid.
      maxPayload: HEADER_LENGTH + MAX_PAYLOAD,
      handshakeTimeout: options.timeoutMs ?? RELAY_SOCKET_DEFAULTS.timeoutMs,
      generateMask: zeroMask,
      ...(options.socket && { createConnection: () => options.socket! }),
    });
    let settled = false;
    const settle = (error?: Error): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      ws.off('open', onOpen);
      ws.off('error', onError);
      if (error) {
        ws.on('error', () => {}); // late errors of a socket we gave up on
        if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
        reject(error);
      } else {
        resolve(ws);
      }
    };
    const onOpen = (): void => {
      ws.pause(); // synchronously inside 'open': nothing has been read past the upgrade yet
      settle();
    };
    const onError = (error: Error): void => settle(new ConnectionError('connection_failed', `relay connection failed: ${error.message}`));
    const onAbort = (): void => settle(new ConnectionError('closed', 'connection attempt aborted'));
    ws.once('open', onOpen);
    ws.on('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
    ws.once('unexpected-response', (request, response) => {
      const status = response.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let size = 0;
      const finish = (): void => {
        request.destroy();
        response.destroy();
        let serverCode: string | undefined;
        try {
          const code = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: { code?: unknown } }).error?.code;
          if (typeof code === 'string') serverCode = code;
        } catch {
          serverCode = undefined;
        }
        const code = upgradeStatusCode(status);
        settle(new ConnectionError(code, `relay refused the upgrade: HTTP ${status}${serverCode ? ` ${serverCode}` : ''}`, status, serverCode));
      };
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= 4096) chunks.push(chunk);
      });
      response.once('end', finish);
      response.once('error', finish);
    });
  });
}

/** HTTP status of a refused upgrade → stable code (sbrp.md §5). */
export function upgradeStatusCode(status: number): ConnectionErrorCode {
  switch (status) {
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 409:
      return 'session_conflict';
    case 429:
      return 'too_many_connections';
    default:
      return 'upgrade_failed';
  }
}

/**
 * A received message as a plain Uint8Array view (not a Buffer: Buffer#slice does not copy,
 * and the protocol core relies on `slice` copying what it keeps).
 */
export function messageBytes(data: WebSocket.RawData): Uint8Array {
  if (Array.isArray(data)) data = Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Closes a socket politely, terminating it if the close handshake takes longer than `ms`. */
export function closeSocket(ws: WebSocket, code = 1000, ms = 1_000): Promise<void> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) {
      resolve();
      return;
    }
    const timer = setTimeout(() => ws.terminate(), ms);
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
    else ws.close(code);
  });
}

/**
 * `send` for a relay WebSocket that writes every frame sent in one turn of the event loop
 * (one burst of microtasks) with one system call ({@link corkForTurn}). Still one frame per
 * WebSocket message (sbrp.md §1); only the socket writes are batched, so a response's frames,
 * or a download's pieces, cost one write instead of one each.
 */
export function batchedSender(ws: WebSocket, onWritten?: () => void): (frame: Uint8Array) => void {
  return (frame) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    corkForTurn(ws);
    ws.send(frame, onWritten);
  };
}

/** An opener that can also start the connection before the token is there. */
export interface PreconnectingOpener extends OpenRelaySocket {
  /**
   * Opens the TCP/TLS connection to `url` for the next call of this opener (relay-preconnect.ts);
   * the function returned closes it unused (the attempt failed before it opened the socket).
   */
  preconnect(url: string, signal: AbortSignal): () => void;
}

/**
 * The Node client's socket for the shared connection loop (web/relay-client.ts): `ws` with
 * the token as a bearer header, returned paused until `start`, with ws's per-send callbacks
 * as flush notices (so writers need not poll `bufferedAmount`). `preconnect` lets the loop
 * open the connection while it fetches the token; the upgrade then uses it.
 */
export function nodeRelaySocketOpener(options: { timeoutMs?: number } = {}): PreconnectingOpener {
  const preconnect = new RelayPreconnect();
  const open = async (url: string, token: string, signal: AbortSignal): Promise<RelaySocket> => {
    const socket = preconnect.take(url);
    try {
      return wrapNodeSocket(await openRelaySocket(url, token, { signal, timeoutMs: options.timeoutMs, socket }));
    } catch (error) {
      socket?.destroy();
      throw error;
    }
  };
  return Object.assign(open, {
    preconnect: (url: string, signal: AbortSignal) => {
      preconnect.prepare(url, signal);
      return () => preconnect.discard();
    },
  });
}

function wrapNodeSocket(ws: WebSocket): RelaySocket {
  const flushListeners = new Set<() => void>();
  const flushed = (): void => {
    for (const listener of flushListeners) listener();
  };
  const send = batchedSender(ws, flushed);
  return {
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
    send,
    start(handlers) {
      ws.on('message', (data, isBinary) => {
        if (!isBinary) handlers.text();
        else handlers.message(messageBytes(data));
      });
      ws.on('error', () => {}); // 'close' follows
      ws.once('close', () => {
        ws.removeAllListeners('message');
        handlers.close();
      });
      ws.resume();
    },
    terminate() {
      ws.removeAllListeners('message');
      if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
    },
    close: () => closeSocket(ws),
    onFlush(listener) {
      flushListeners.add(listener);
      return () => flushListeners.delete(listener);
    },
  };
}
