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

type Principal = { kind: 'admin' } | { kind: 'daemon'; daemonId: string; apiKey: string };
type Json = Record<string, unknown>;

interface Call {
  req: IncomingMessage;
  /** Decoded path parameters, in order. */
  params: string[];
  /** The bearer key's principal; throws 401 when there is none. */
  who(): Promise<Principal>;
  /** The JSON object body, or undefined when the request has none (read after authentication). */
  body(): Promise<Json | undefined>;
}

interface Route {
  path: string | RegExp;
  method: 'GET' | 'POST' | 'DELETE';
  /** The answer when a path parameter is not valid percent-encoding. */
  badParam?: 'daemon_not_found' | 'device_not_found';
  handle(call: Call): Promise<{ status: number; body: unknown; headers?: Record<string, string> }>;
}

/**
 * The control plane's HTTP adapter (JSON in and out; README "HTTP routes" lists every route).
 * Errors are thrown as `HttpError` and rendered by the caller as `{"error":{"code","message"}}`.
 * Order on every route: method (405), feature switch (403), authentication (401/403), then the
 * body (415/413/400): an anonymous caller cannot make the relay parse anything on an
 * authenticated route. Routes without a body still validate one if sent, so a malformed body
 * gets the same stable error everywhere.
 *
 * Returns a handler that resolves to false when the path is not a control-plane route, and
 * `handles(path)`, the same question asked without a request (for CORS preflights).
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
    if (daemon) return { kind: 'daemon', daemonId: daemon.daemonId, apiKey: key };
    throw new HttpError('unauthorized', 'unknown key');
  }

  const daemonOnly = async (call: Call, what: string): Promise<{ daemonId: string; apiKey: string }> => {
    const who = await call.who();
    if (who.kind !== 'daemon') throw new HttpError('forbidden', `${what} needs a daemon API key`);
    return who;
  };
  const quickConnectOn = (): void => {
    if (!cp.pairing.quickConnectEnabled) throw new HttpError('quick_connect_disabled', 'Quick Connect is disabled on this relay (start it with --quick-connect)');
  };
  const ok = (body: unknown, status = 200) => ({ status, body });

  const routes: Route[] = [
    { path: '/.well-known/jwks.json', method: 'GET', handle: async (c) => {
      await c.body();
      return { status: 200, body: cp.jwks, headers: { 'cache-control': 'public, max-age=300' } };
    } },
    { path: '/v1/daemons', method: 'POST', handle: async (c) => {
      if ((await c.who()).kind !== 'admin') throw new HttpError('forbidden', 'registering a daemon needs the admin key');
      const body = await c.body();
      if (!body) throw new HttpError('invalid_request', 'body required');
      const input: { identityPublicKey: string; label?: string } = { identityPublicKey: body.identityPublicKey as string };
      if (body.label !== undefined) input.label = body.label as string;
      return ok(await cp.registerDaemon(input), 201);
    } },
    { path: '/v1/tokens/presence', method: 'POST', handle: async (c) => {
      const who = await daemonOnly(c, 'a presence token');
      const body = (await c.body()) ?? {};
      if (body.resume !== undefined && typeof body.resume !== 'boolean') throw new HttpError('invalid_request', 'resume must be a boolean');
      return ok(await cp.issuePresenceToken(who.daemonId, { resume: body.resume !== false }));
    } },
    { path: '/v1/tokens/session', method: 'POST', handle: async (c) => {
      const who = await c.who();
      const daemonId = (await c.body())?.daemonId;
      if (typeof daemonId !== 'string' || daemonId.length === 0) throw new HttpError('invalid_request', 'daemonId must be a non-empty string');
      if (who.kind === 'daemon' && who.daemonId !== daemonId) throw new HttpError('forbidden', 'a daemon key issues tokens for its own daemon only');
      return ok(await cp.issueSessionToken(daemonId, who.kind === 'admin' ? 'admin' : `daemon-key:${who.daemonId}`));
    } },
    { path: '/v1/quick-connect', method: 'POST', handle: async (c) => {
      quickConnectOn();
      const who = await daemonOnly(c, 'a Quick Connect code');
      const body = (await c.body()) ?? {};
      return ok(await cp.pairing.createQuickConnect(who.daemonId, { ttlSeconds: body.ttlSeconds }), 201);
    } },
    { path: '/v1/quick-connect/redeem', method: 'POST', handle: async (c) => {
      quickConnectOn();
      const body = await c.body();
      if (!body) throw new HttpError('invalid_request', 'body required');
      return ok(await cp.pairing.redeem({ code: body.code, devicePublicKey: body.devicePublicKey, label: body.label }), 201);
    } },
    { path: '/v1/devices/challenge', method: 'POST', handle: async (c) => {
      const body = await c.body();
      return ok(await cp.pairing.challenge(body?.deviceId));
    } },
    { path: '/v1/tokens/device', method: 'POST', handle: async (c) => {
      const body = await c.body();
      if (!body) throw new HttpError('invalid_request', 'body required');
      return ok(await cp.pairing.deviceToken({ deviceId: body.deviceId, challenge: body.challenge, signature: body.signature }));
    } },
    { path: '/v1/devices', method: 'GET', handle: async (c) => {
      const who = await daemonOnly(c, 'listing devices');
      await c.body();
      return ok({ devices: await cp.pairing.listDevices(who.daemonId) });
    } },
    { path: /^\/v1\/devices\/([^/]+)$/, method: 'DELETE', badParam: 'device_not_found', handle: async (c) => {
      const who = await daemonOnly(c, 'revoking a device');
      await c.body();
      await cp.pairing.revokeDevice(who.daemonId, c.params[0]!);
      return ok({ revoked: true });
    } },
    { path: /^\/v1\/daemons\/([^/]+)\/rotate-key$/, method: 'POST', handle: async (c) => {
      const who = await c.who();
      const daemonId = c.params[0]!;
      if (who.kind === 'daemon' && who.daemonId !== daemonId) throw new HttpError('forbidden', 'a daemon key rotates its own key only');
      await c.body();
      return ok(await cp.rotateApiKey(daemonId, who.kind === 'daemon' ? who.apiKey : undefined));
    } },
    { path: /^\/v1\/daemons\/([^/]+)$/, method: 'GET', handle: async (c) => {
      const who = await c.who();
      const daemonId = c.params[0]!;
      if (who.kind === 'daemon' && who.daemonId !== daemonId) throw new HttpError('forbidden', 'a daemon key reads its own daemon only');
      await c.body();
      const info = await cp.getDaemon(daemonId);
      if (!info) throw new HttpError('daemon_not_found', 'no such daemon');
      return ok(info);
    } },
    { path: '/v1/admin/signing-keys/rotate', method: 'POST', handle: async (c) => {
      if ((await c.who()).kind !== 'admin') throw new HttpError('forbidden', 'rotating signing keys needs the admin key');
      await c.body();
      return ok(await cp.rotateSigningKey());
    } },
  ];

  async function route(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
    for (const r of routes) {
      let params: string[];
      if (typeof r.path === 'string') {
        if (r.path !== path) continue;
        params = [];
      } else {
        const match = r.path.exec(path);
        if (!match) continue;
        params = match.slice(1).map((p) => safeDecode(p, r.badParam ?? 'daemon_not_found'));
      }
      if (req.method !== r.method) throw new MethodNotAllowed(r.method);
      let principal: Promise<Principal> | undefined;
      const call: Call = {
        req,
        params,
        who: () => (principal ??= authenticate(req)),
        body: () => readJsonBody(req, maxBodyBytes),
      };
      const answer = await r.handle(call);
      sendJson(res, answer.status, answer.body, answer.headers);
      return true;
    }
    return false;
  }

  const handles = (path: string): boolean => routes.some((r) => (typeof r.path === 'string' ? r.path === path : r.path.test(path)));

  return Object.assign(route, { handles });
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

function safeDecode(segment: string, notFound: 'daemon_not_found' | 'device_not_found'): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(notFound, notFound === 'daemon_not_found' ? 'no such daemon' : 'no such device');
  }
}
