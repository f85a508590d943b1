import { writeFileAtomic } from '../node/atomic-write.js';
import { FileError } from '../node/errors.js';
import { parsePrivateJson, readPrivateFile } from '../node/private-file.js';
import type { ControlPlaneCallOptions } from '../web/control-plane-request.js';
import { redeemQuickConnectCode, type PairedDevice } from '../web/quick-connect-redeem.js';
import type { DeviceKey } from './device-key.js';
import type { PinStore } from './pin-store.js';

/**
 * What a paired Node client keeps besides its key (file mode 0600, written atomically):
 *   { "version": 1, "deviceId", "daemonId", "relayUrl", "daemonIdentityPublicKey" }
 * None of it is a secret: without the device key it buys no token (README "Pairing").
 */
export type { PairedDevice } from '../web/quick-connect-redeem.js';

export interface RedeemOptions extends ControlPlaneCallOptions {
  /** Relay base URL, e.g. `https://relay.example`. */
  relay: string;
  /** As the daemon printed it; case, dashes and spaces do not matter. */
  code: string;
  deviceKey: DeviceKey;
  /** Shown to the daemon owner in the device list (at most 128 characters). */
  label?: string;
  /** Saves the record here (0600, atomic) once the redeem succeeded. */
  recordPath?: string;
  /**
   * Pins the daemon identity key from the answer (sbrp.md §5 first contact). When a different
   * key is pinned already, redeem throws `IdentityKeyChangedError` and saves nothing.
   */
  pinStore?: PinStore;
}

/**
 * Redeems a Quick Connect code: sends the device's public key, gets its device id and the
 * daemon it is now paired with. The code is single use whatever the outcome; on failure the
 * `ControlPlaneError` code says what to tell the user (`code_not_found`, `code_expired`,
 * `daemon_offline`: get a new code; `quick_connect_disabled`).
 *
 *   const { key } = await loadOrCreateDeviceKey(keyPath);
 *   const device = await redeemQuickConnect({ relay, code, deviceKey: key, label: 'ci runner', recordPath });
 */
export async function redeemQuickConnect(options: RedeemOptions): Promise<PairedDevice> {
  const device = await redeemQuickConnectCode({ ...options, devicePublicKey: options.deviceKey.publicKeyBase64url });
  if (options.recordPath !== undefined) await savePairedDevice(options.recordPath, device);
  return device;
}

export async function savePairedDevice(path: string, device: PairedDevice): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify({ version: 1, ...device }, null, 2)}\n`, { mode: 0o600 });
}

/** The record at `path`, or undefined when there is none; refuses a file others can read. */
export async function loadPairedDevice(path: string): Promise<PairedDevice | undefined> {
  const text = await readPrivateFile(path);
  if (text === undefined) return undefined;
  const json = parsePrivateJson(text, path) as Record<string, unknown> | null;
  const fields = ['deviceId', 'daemonId', 'relayUrl', 'daemonIdentityPublicKey'] as const;
  const ok = typeof json === 'object' && json !== null && json.version === 1 && fields.every((f) => typeof json[f] === 'string' && json[f] !== '');
  if (!ok) throw new FileError('file_malformed', `device record ${path} must hold version 1, ${fields.join(', ')}`, path);
  return { deviceId: json.deviceId as string, daemonId: json.daemonId as string, relayUrl: json.relayUrl as string, daemonIdentityPublicKey: json.daemonIdentityPublicKey as string };
}
