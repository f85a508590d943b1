import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { ControlPlaneTransport, ControlPlaneWireRequest, ControlPlaneWireResponse } from '../web/control-plane-request.js';

/** Limits of {@link keepAliveTransport}. */
export const KEEP_ALIVE_TRANSPORT_DEFAULTS = {
  /** Largest response body read (control-plane answers are a few hundred bytes). */
  maxResponseBytes: 1024 * 1024,
  /** Idle connections kept per host for the next call; more are closed once free. */
  maxFreeSockets: 4,
} as const;

const agents = {
  'http:': new HttpAgent({ keepAlive: true, maxFreeSockets: KEEP_ALIVE_TRANSPORT_DEFAULTS.maxFreeSockets }),
  'https:': new HttpsAgent({ keepAlive: true, maxFreeSockets: KEEP_ALIVE_TRANSPORT_DEFAULTS.maxFreeSockets }),
};

/** The keep-alive agents behind {@link keepAliveTransport} (tests read their pools). */
export const keepAliveAgents: Readonly<typeof agents> = agents;

/**
 * The control-plane calls of the Node client and daemon (web/control-plane-request.ts) on
 * node:http(s) with a process-wide keep-alive pool: a new session's token costs one round trip
 * on a warm connection, without the WHATWG Request/Response/stream objects of Node's global
 * `fetch`: 0.05–0.6 ms less per token than undici on the bench machine (issue 9; compare the
 * two with `npx tsx bench/cold-start-trace.ts`).
 * Idle sockets do not keep the process alive (Node's agent unrefs them).
 *
 * A request that fails on a reused socket before any answer (the server closed it as idle just
 * as it was reused) is sent once more on a fresh connection, as Node's documentation advises:
 * the server never read the first one.
 *
 *   new ControlPlaneClient({ baseUrl }) // uses it unless a `fetch` is injected
 */
export const keepAliveTransport: ControlPlaneTransport = async (url, request) => {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`unsupported protocol ${url.protocol}`);
  try {
    return await send(url, request, false);
  } catch (error) {
    if (!(error instanceof StaleSocketError)) throw error;
    return send(url, request, true);
  }
};

/** A reused keep-alive socket was closed by the server before it answered. */
class StaleSocketError extends Error {}

function send(url: URL, request: ControlPlaneWireRequest, fresh: boolean): Promise<ControlPlaneWireResponse> {
  const https = url.protocol === 'https:';
  const headers = { ...request.headers, ...(request.body !== undefined && { 'content-length': String(Buffer.byteLength(request.body)) }) };
  return new Promise((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(url, {
      method: request.method,
      headers,
      signal: request.signal,
      // A retry must not pick another idle socket that may be as stale as the first.
      agent: fresh ? false : agents[https ? 'https:' : 'http:'],
    });
    req.once('error', (error: NodeJS.ErrnoException) => {
      if (!fresh && req.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE')) reject(new StaleSocketError(error.message));
      else reject(error);
    });
    req.once('response', (res) => {
      readBody(res).then((text) => resolve({ status: res.statusCode!, statusText: res.statusMessage ?? '', text }), reject);
    });
    req.end(request.body);
  });
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > KEEP_ALIVE_TRANSPORT_DEFAULTS.maxResponseBytes) {
        res.destroy(new RangeError(`response body exceeds ${KEEP_ALIVE_TRANSPORT_DEFAULTS.maxResponseBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    // Decoded as fetch's text() does: UTF-8, a byte-order mark dropped, bad bytes replaced.
    res.once('end', () => resolve(new TextDecoder().decode(Buffer.concat(chunks))));
    res.once('error', reject);
    // A connection lost mid-body ends the message without 'end' (a no-op after a resolve).
    res.once('close', () => reject(new Error('connection closed before the response ended')));
  });
}
