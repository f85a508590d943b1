import { toBase64Url, utf8 } from '../protocol/bytes.js';
import { controlPlaneRequest, numberField, stringField, type ControlPlaneCallOptions } from './control-plane-request.js';

/** What the control plane signs into every device token request (relay/control-plane/device-auth.ts). */
export const DEVICE_TOKEN_CONTEXT = 'sideband-device-token-v1';

export interface DeviceSessionToken {
  token: string;
  /** base64url SessionID: new for every token (sbrp.md §5). */
  sid: string;
  sessionId: string;
  daemonId: string;
  /** Epoch seconds. */
  expiresAt: number;
}

/** Signs with the device key: a Node seed in a closure, or a non-extractable WebCrypto key. */
export type DeviceSigner = (message: Uint8Array) => Uint8Array | Promise<Uint8Array>;

/** The exact bytes a device signs: UTF-8 `sideband-device-token-v1\n<challenge>\n<deviceId>`. */
export function deviceTokenMessage(challenge: string, deviceId: string): Uint8Array {
  return utf8(`${DEVICE_TOKEN_CONTEXT}\n${challenge}\n${deviceId}`);
}

/**
 * A `getToken` for the connection loop backed by a device key, the same in Node and the
 * service worker: each call asks for a fresh challenge, signs it, and trades the signature for
 * a session token (60 s, new `sid`). No bearer secret is kept anywhere. A revoked device fails
 * with `ControlPlaneError` code `device_revoked` (HTTP 403), which the loop does not retry.
 *
 *   const getToken = signedDeviceTokens({ relayUrl, deviceId }, (m) => key.sign(m));
 */
export function signedDeviceTokens(
  device: { relayUrl: string; deviceId: string },
  sign: DeviceSigner,
  options: Omit<ControlPlaneCallOptions, 'signal'> = {},
): (signal?: AbortSignal) => Promise<DeviceSessionToken> {
  return async (signal) => {
    const call = signal ? { ...options, signal } : options;
    const issued = await controlPlaneRequest(device.relayUrl, { method: 'POST', path: '/v1/devices/challenge', body: { deviceId: device.deviceId } }, call);
    const challenge = stringField(issued, 'challenge');
    const signature = toBase64Url(await sign(deviceTokenMessage(challenge, device.deviceId)));
    const json = await controlPlaneRequest(
      device.relayUrl,
      { method: 'POST', path: '/v1/tokens/device', body: { deviceId: device.deviceId, challenge, signature } },
      call,
    );
    return {
      token: stringField(json, 'token'),
      sid: stringField(json, 'sid'),
      sessionId: stringField(json, 'sessionId'),
      daemonId: stringField(json, 'daemonId'),
      expiresAt: numberField(json, 'expiresAt'),
    };
  };
}
