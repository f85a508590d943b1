import { ControlPlaneError } from '../web/errors.js';
import { controlPlaneRequest, numberField, stringField, type ControlPlaneCallOptions } from '../web/control-plane-request.js';

/**
 * The daemon owner's side of pairing (README "Pairing"): Quick Connect codes, the device list,
 * revocation, and API key rotation, all authorized by the daemon API key. Plain fetch calls;
 * every failure is a `ControlPlaneError` whose `code` is the server's stable code (e.g.
 * `quick_connect_disabled`, `rate_limited`, `device_not_found`, `unauthorized`).
 */
export interface OwnerCallOptions extends ControlPlaneCallOptions {
  /** Relay base URL, e.g. `https://relay.example`. */
  relay: string;
  apiKey: string;
}

export interface QuickConnectCode {
  /** Grouped for typing, e.g. `7KQ2M-XD9RP-4TAVB-0HNZC-W3E8FJ`; single use. */
  code: string;
  /** Epoch seconds. */
  expiresAt: number;
  /** Opens the web app with the code filled in (`…/#pair=<code>`). */
  link: string;
}

export interface PairedDeviceInfo {
  deviceId: string;
  label: string;
  /** Epoch seconds. */
  createdAt: number;
  /** Epoch seconds of its last session token, or null. */
  lastSeenAt: number | null;
  revoked: boolean;
}

/**
 * Asks for a Quick Connect code valid `ttlSeconds` (1–300, default 300). At most 10 per minute
 * per daemon (`rate_limited`, HTTP 429).
 *
 *   const { code, link } = await createQuickConnect({ relay, apiKey, ttlSeconds: 120 });
 */
export async function createQuickConnect(options: OwnerCallOptions & { ttlSeconds?: number }): Promise<QuickConnectCode> {
  const body = options.ttlSeconds === undefined ? {} : { ttlSeconds: options.ttlSeconds };
  const json = await controlPlaneRequest(options.relay, { method: 'POST', path: '/v1/quick-connect', bearer: options.apiKey, body }, options);
  return { code: stringField(json, 'code'), expiresAt: numberField(json, 'expiresAt'), link: stringField(json, 'link') };
}

/** The devices paired with this daemon, oldest first, revoked ones included. */
export async function listDevices(options: OwnerCallOptions): Promise<PairedDeviceInfo[]> {
  const json = await controlPlaneRequest(options.relay, { method: 'GET', path: '/v1/devices', bearer: options.apiKey }, options);
  if (!Array.isArray(json.devices)) throw new ControlPlaneError('bad_response', 'response lacks a devices array', 200);
  return json.devices.map((entry: unknown) => {
    const d = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
    const lastSeenAt = d.lastSeenAt === null ? null : numberField(d, 'lastSeenAt');
    if (typeof d.label !== 'string' || typeof d.revoked !== 'boolean') throw new ControlPlaneError('bad_response', 'malformed device entry', 200);
    return { deviceId: stringField(d, 'deviceId'), label: d.label, createdAt: numberField(d, 'createdAt'), lastSeenAt, revoked: d.revoked };
  });
}

/**
 * Revokes a device: its next token request gets `device_revoked` (403) and the relay closes its
 * open session at once. Idempotent; `device_not_found` for a device of another daemon.
 */
export async function revokeDevice(options: OwnerCallOptions & { deviceId: string }): Promise<void> {
  await controlPlaneRequest(options.relay, { method: 'DELETE', path: `/v1/devices/${encodeURIComponent(options.deviceId)}`, bearer: options.apiKey }, options);
}

/**
 * Replaces the daemon's API key; the old one stops working at once, so save the new one before
 * anything else (presence tokens already issued stay valid until they expire).
 *
 *   const { apiKey } = await rotateApiKey({ relay, apiKey: oldKey, daemonId });
 */
export async function rotateApiKey(options: OwnerCallOptions & { daemonId: string }): Promise<{ apiKey: string }> {
  const path = `/v1/daemons/${encodeURIComponent(options.daemonId)}/rotate-key`;
  const json = await controlPlaneRequest(options.relay, { method: 'POST', path, bearer: options.apiKey }, options);
  return { apiKey: stringField(json, 'apiKey') };
}
