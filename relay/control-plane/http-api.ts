import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { HttpError, sendJson } from '../http-error.js';
import { bearerToken, readJsonBody } from '../json-body.js';
import type { ControlPlane } from './control-plane.js';

export interface ControlPlaneApiOptions {
  adminKey: string;
  /** Default 16 KiB. */
  maxBodyBytes?: number;
}

type Principal = { kind: 'admin' } | { kind: 'daemon'; daemonId: string };

/** Routes this API answers; anything else falls through to the relay (returns false). */
const DAEMON_PATH = /^\/v1\/daemons\/([^/]+)$/;

/**
 * The control plane's HTTP adapter (JSON in and out). Errors are thrown as `HttpError` and
 * rendered by the caller as `{"error":{"code","message"}}`. Authentication happens before the
 * body is read, so an anonymous caller cannot make the relay parse anything.
 *
 * Returns a handler that resolves to false when the path is not a control-plane route.
 */
export function createControlPlaneApi(cp: ControlPlane, options: ControlPlaneApiOptions) {
  const adminHash = createHash('sha256').update(options.adminKey, 'utf8').digest();
  const maxBodyBytes = options.maxBodyBytes ?? 16 * 1024;

  async function authenticate(req: IncomingMessage): Promise<Principal> {
    const key = bearerToken(req);
    if (key === undefined) throw new HttpError('unauthorized', 'missing Authorization: Bearer key');
    const presented = createHash('sha256').update(key, 'utf8').digest();
    if (timingSafeEqual(presented, adminHash)) return { kind: 'admin' };
    const daemon = await cp.authenticateApiKey(key);
    if (daemon) return { kind: 'daemon', daemonId: daemon.daemonId };
    throw new HttpError('unauthorized', 'unknown key');
  }

  function only(method: string, req: IncomingMessage): void {
    if (req.method !== method) throw new MethodNotAllowed(method);
  }

  async function route(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
    if (path === '/.well-known/jwks.json') {
      only('GET', req);
      sendJson(res, 200, cp.jwks, { 'cache-control': 'public, max-age=300' });
      return true;
    }
    if (path === '/v1/daemons') {
      only('POST', req);
      const who = await authenticate(req);
      if (who.kind !== 'admin') throw new HttpError('forbidden', 'registering a daemon needs the admin key');
      const body = await readJsonBody(req, maxBodyBytes);
      if (!body) throw new HttpError('invalid_request', 'body required');
      const input: { identityPublicKey: string; label?: string } = { identityPublicKey: body.identityPublicKey as string };
      if (body.label !== undefined) input.label = body.label as string;
      sendJson(res, 201, await cp.registerDaemon(input));
      return true;
    }
    if (path === '/v1/tokens/presence') {
      only('POST', req);
      const who = await authenticate(req);
      if (who.kind !== 'daemon') throw new HttpError('forbidden', 'presence tokens need a daemon API key');
      const body = (await readJsonBody(req, maxBodyBytes)) ?? {};
      if (body.resume !== undefined && typeof body.resume !== 'boolean') throw new HttpError('invalid_request', 'resume must be a boolean');
      sendJson(res, 200, await cp.issuePresenceToken(who.daemonId, { resume: body.resume !== false }));
      return true;
    }
    if (path === '/v1/tokens/session') {
      only('POST', req);
      const who = await authenticate(req);
      const body = await readJsonBody(req, maxBodyBytes);
      const daemonId = body?.daemonId;
      if (typeof daemonId !== 'string' || daemonId.length === 0) throw new HttpError('invalid_request', 'daemonId must be a non-empty string');
      if (who.kind === 'daemon' && who.daemonId !== daemonId) throw new HttpError('forbidden', 'a daemon key issues tokens for its own daemon only');
      const principal = who.kind === 'admin' ? 'admin' : `daemon-key:${who.daemonId}`;
      sendJson(res, 200, await cp.issueSessionToken(daemonId, principal));
      return true;
    }
    const match = DAEMON_PATH.exec(path);
    if (match) {
      only('GET', req);
      const who = await authenticate(req);
      const daemonId = safeDecode(match[1]!);
      if (who.kind === 'daemon' && who.daemonId !== daemonId) throw new HttpError('forbidden', 'a daemon key reads its own daemon only');
      const info = await cp.getDaemon(daemonId);
      if (!info) throw new HttpError('daemon_not_found', 'no such daemon');
      sendJson(res, 200, info);
      return true;
    }
    return false;
  }

  return route;
}

/** 405 with the method the route accepts (rendered with an `Allow` header by the caller). */
export class MethodNotAllowed extends HttpError {
  override readonly name: string = 'MethodNotAllowed';
  readonly allow: string;

  constructor(allow: string) {
    super('method_not_allowed', `use ${allow}`);
    this.allow = allow;
  }
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError('daemon_not_found', 'no such daemon');
  }
}
