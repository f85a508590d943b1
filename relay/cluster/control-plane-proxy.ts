import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Transform, pipeline, type TransformCallback } from 'node:stream';
import { HttpError, sendHttpError } from '../http-error.js';

/** Hop-by-hop headers (RFC 9110 §7.6.1) never forwarded, in either direction. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate', 'host']);

export interface ControlPlaneProxyOptions {
  /** Base URL of the control-plane writer, e.g. `http://10.0.0.1:8787`. */
  target: string;
  /** Largest request body forwarded; a larger one is answered 413 here. */
  maxBodyBytes: number;
  /** Largest response body passed back; past it the response is cut (the writer's answers are small). */
  maxResponseBytes?: number;
  /** How long the writer may take to answer. */
  timeoutMs?: number;
}

/**
 * Forwards control-plane requests (`/v1/…` routes and the JWKS) from a node that is not the
 * writer to the one that is, so Quick Connect codes stay single-use and pairing works through
 * any node (issue 10). Streams both ways with node:http, bounds the body, and answers 502
 * `control_plane_unavailable` when the writer cannot be reached. The client's address goes along
 * in X-Forwarded-For, so the writer's per-IP limits (with --trust-proxy) see the real client.
 */
export function createControlPlaneProxy(options: ControlPlaneProxyOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const target = new URL(options.target);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const maxResponseBytes = options.maxResponseBytes ?? 1024 * 1024;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const basePath = target.pathname.replace(/\/$/, '');

  return (req, res) => new Promise<void>((resolve) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > options.maxBodyBytes) {
      res.setHeader('connection', 'close');
      sendHttpError(res, new HttpError('payload_too_large', `body over ${options.maxBodyBytes} bytes`));
      return resolve();
    }
    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(name) && value !== undefined) headers[name] = value;
    const peer = req.socket.remoteAddress;
    if (peer) headers['x-forwarded-for'] = req.headers['x-forwarded-for'] ? `${String(req.headers['x-forwarded-for'])}, ${peer}` : peer;
    const upstream = send({
      protocol: target.protocol, hostname: target.hostname, port: target.port, method: req.method,
      path: `${basePath}${req.url ?? '/'}`, headers, timeout: timeoutMs,
    });
    let answered = false;
    const unavailable = (): void => {
      if (answered || res.headersSent) {
        res.destroy();
        return resolve();
      }
      answered = true;
      sendHttpError(res, new HttpError('control_plane_unavailable', 'the control-plane writer cannot be reached'));
      resolve();
    };
    upstream.on('timeout', () => upstream.destroy(new Error('timeout')));
    upstream.on('error', unavailable);
    upstream.on('response', (answer) => {
      answered = true;
      const out: OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(answer.headers)) if (!HOP_BY_HOP.has(name) && value !== undefined) out[name] = value;
      res.writeHead(answer.statusCode ?? 502, out);
      pipeline(answer, limit(maxResponseBytes), res, () => resolve());
    });
    pipeline(req, limit(options.maxBodyBytes), upstream, (error) => {
      if (!error) return;
      if (error instanceof BodyTooLarge && !answered) {
        answered = true;
        upstream.destroy();
        res.setHeader('connection', 'close');
        sendHttpError(res, new HttpError('payload_too_large', `body over ${options.maxBodyBytes} bytes`));
        resolve();
      }
    });
  });
}

class BodyTooLarge extends Error {}

/** Passes bytes through until `max`, then fails the pipeline. */
function limit(max: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      seen += chunk.length;
      if (seen > max) return callback(new BodyTooLarge(`over ${max} bytes`));
      callback(null, chunk);
    },
  });
}
