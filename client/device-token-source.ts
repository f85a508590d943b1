import type { ControlPlaneCallOptions } from '../web/control-plane-request.js';
import { signedDeviceTokens, type DeviceSessionToken } from '../web/device-token-source.js';
import type { DeviceKey } from './device-key.js';
import type { PairedDevice } from './pairing.js';

export { DEVICE_TOKEN_CONTEXT, deviceTokenMessage, type DeviceSessionToken } from '../web/device-token-source.js';

/**
 * A `getToken` for `connectClient` backed by the Node device key (web/device-token-source.ts):
 * each call signs a fresh challenge and trades it for a session token. A revoked device fails
 * with `ControlPlaneError` code `device_revoked`, which the loop does not retry.
 *
 *   const getToken = deviceTokenSource(await loadPairedDevice(recordPath), (await loadOrCreateDeviceKey(keyPath)).key);
 *   const client = connectClient({ relay: device.relayUrl, daemonId: device.daemonId, getToken, pinStore });
 */
export function deviceTokenSource(
  device: PairedDevice,
  deviceKey: DeviceKey,
  options: Omit<ControlPlaneCallOptions, 'signal'> = {},
): (signal?: AbortSignal) => Promise<DeviceSessionToken> {
  return signedDeviceTokens(device, (message) => deviceKey.sign(message), options);
}
