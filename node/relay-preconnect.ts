import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export const PRECONNECT_DEFAULTS = {
  /**
   * A prepared connection older than this is not used (closed, and a fresh one opened): the
   * relay drops a connection that sends no request for a while (its header timeout, 10 s).
   */
  maxAgeMs: 5_000,
} as const;

interface Prepared {
  url: string;
  /** Epoch ms of `prepare`. */
  at: number;
  /** Set once the connection was started (a turn after `prepare`). */
  socket?: Socket;
  /** Pending until the connection is started. */
  start?: NodeJS.Immediate;
  release: () => void;
}

/**
 * Opens the TCP (and TLS) connection to the relay while the connection loop still waits for
 * its session token, so the WebSocket upgrade goes out the moment the token is there instead
 * of one connection setup later (one round trip on TCP, two or three with TLS; issue 9). The
 * connection starts one turn after `prepare` (setImmediate), behind the token request that the
 * caller sends in the same turn: the token is the longer wait, so it goes out first. Holds at
 * most one unused connection: a newer `prepare` closes the older one, and so do `discard()`
 * and the attempt's signal aborting. An unused connection does not keep the process alive.
 *
 *   const pre = new RelayPreconnect();
 *   pre.prepare(wsUrl, signal);            // as the token request goes out
 *   const socket = pre.take(wsUrl);        // then hand it to ws as `createConnection`
 */
export class RelayPreconnect {
  private prepared?: Prepared;

  constructor(private readonly options: { maxAgeMs?: number; now?: () => number } = {}) {}

  /** Starts a connection to the host of `url` (ws: or wss:) for the next `take`. */
  prepare(url: string, signal: AbortSignal): void {
    this.discard();
    if (signal.aborted) return;
    const target = new URL(url);
    const secure = target.protocol === 'wss:';
    if (!secure && target.protocol !== 'ws:') return;
    const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = Number(target.port || (secure ? 443 : 80));
    // Errors before the socket is taken end it; take() then leaves the connecting to ws.
    const ignore = (): void => {};
    const onAbort = (): void => {
      if (this.prepared === prepared) this.discard();
    };
    const prepared: Prepared = {
      url,
      at: this.now(),
      start: setImmediate(() => {
        prepared.start = undefined;
        // As `ws` connects: SNI with the host name (none for an IP), certificates checked by default.
        const socket = secure ? tlsConnect({ host, port, servername: isIP(host) ? '' : host, ALPNProtocols: ['http/1.1'] }) : netConnect({ host, port });
        socket.unref();
        socket.on('error', ignore);
        prepared.socket = socket;
      }),
      release: () => {
        signal.removeEventListener('abort', onAbort);
        if (prepared.start) clearImmediate(prepared.start);
        prepared.socket?.off('error', ignore);
      },
    };
    signal.addEventListener('abort', onAbort, { once: true });
    this.prepared = prepared;
  }

  /**
   * The prepared connection for `url`, when there is one that is still usable; the caller owns
   * it from here (ref'd again). Otherwise undefined, and the caller connects itself.
   */
  take(url: string): Socket | undefined {
    const prepared = this.prepared;
    if (!prepared || prepared.url !== url) return undefined;
    this.prepared = undefined;
    prepared.release();
    const { socket } = prepared;
    if (!socket) return undefined;
    const fresh = this.now() - prepared.at <= (this.options.maxAgeMs ?? PRECONNECT_DEFAULTS.maxAgeMs);
    if (!fresh || socket.destroyed || !socket.writable) {
      socket.destroy();
      return undefined;
    }
    socket.ref();
    return socket;
  }

  /** Closes an unused prepared connection. Idempotent. */
  discard(): void {
    const prepared = this.prepared;
    this.prepared = undefined;
    if (!prepared) return;
    prepared.release();
    prepared.socket?.destroy();
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}
