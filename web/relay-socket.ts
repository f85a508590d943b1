/**
 * One open WebSocket to the relay, as the connection loop (relay-client.ts) needs it: the
 * runtime supplies it (`ws` in Node, the browser's `WebSocket` in the service worker), so the
 * loop itself is the same code everywhere (design.md, `web/`).
 */
export interface RelaySocket {
  /** Bytes accepted by `send` and not yet written out. */
  readonly bufferedAmount: number;
  /** Sends one binary message (one SBRP frame). Ignored once the socket is closing. */
  send(frame: Uint8Array): void;
  /**
   * Wires the handlers and starts delivering messages. Nothing is delivered before this call
   * (a frame right behind the upgrade, such as Control `daemon_offline`, waits for it).
   * `close` fires once, whatever ended the socket.
   */
  start(handlers: RelaySocketHandlers): void;
  /** Drops the connection at once. Idempotent. */
  terminate(): void;
  /** Closes politely, terminating after a short bound. Idempotent. */
  close(): Promise<void>;
  /**
   * Calls `listener` each time bytes were written out, where the transport can tell (ws send
   * callbacks); absent where it cannot (the browser), and writers poll `bufferedAmount`.
   */
  onFlush?(listener: () => void): () => void;
}

export interface RelaySocketHandlers {
  message(data: Uint8Array): void;
  /** A text message: never valid SBRP (sbrp.md §1). */
  text(): void;
  close(): void;
}

/**
 * Opens a socket to the relay's WebSocket endpoint with `token` (sbrp.md §5: Authorization
 * header from Node, `?token=` from a browser). Rejects with a ConnectionError (web/errors.ts).
 */
export type OpenRelaySocket = (url: string, token: string, signal: AbortSignal) => Promise<RelaySocket>;
