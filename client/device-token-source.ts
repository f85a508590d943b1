import { utf8 } from '../protocol/bytes.js';
import { toBase64Url } from '../protocol/bytes.js';
import { controlPlaneRequest, numberField, stringField, type ControlPlaneCallOptions } from '../node/control-plane-request.js';
import type { DeviceKey } from './device-key.js';
import type { PairedDevice } from './pairing.js';

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

/** The exact bytes a device signs: UTF-8 `sideband-device-token-v1\n<challenge>\n<deviceId>`. */
export function deviceTokenMessage(challenge: string, deviceId: string): Uint8Array {
  return utf8(`${DEVICE_TOKEN_CONTEXT}\n${challenge}\n${deviceId}`);
}

/**
 * A `getToken` for `connectClient` backed by the device key: each call asks for a fresh
 * challenge, signs it, and trades the signature for a session token (60 s, new `sid`). No
 * bearer secret is kept anywhere. A revoked device fails with `ControlPlaneError` code
 * `device_revoked` (HTTP 403), which a reconnect loop must not retry.
 *
 *   const getToken = deviceTokenSource(await loadPairedDevice(recordPath), (await loadOrCreateDeviceKey(keyPath)).key);
 *   const client = connectClient({ relay: device.relayUrl, daemonId: device.daemonId, getToken, pinStore });
 */
export function deviceTokenSource(
  device: PairedDevice,
  deviceKey: DeviceKey,
  options: Omit<ControlPlaneCallOptions, 'signal'> = {},
): (signal?: AbortSignal) => Promise<DeviceSessionToken> {
  return async (signal) => {
    const call = signal ? { ...options, signal } : options;
    const issued = await controlPlaneRequest(device.relayUrl, { method: 'POST', path: '/v1/devices/challenge', body: { deviceId: device.deviceId } }, call);
    const challenge = stringField(issued, 'challenge');
    const signature = toBase64Url(deviceKey.sign(deviceTokenMessage(challenge, device.deviceId)));
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
