import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fromBase64Url } from '../protocol/bytes.js';
import { IdentityKeyChangedError } from '../protocol/errors.js';
import { fingerprint } from '../protocol/fingerprint.js';
import { FileError } from '../node/errors.js';
import { ControlPlaneError, errorCode } from '../web/errors.js';
import { checkRelayUrl, controlPlaneBaseUrl } from '../web/relay-url.js';
import { loadDeviceKey, loadOrCreateDeviceKey, type DeviceKey } from './device-key.js';
import { isDaemonId, type FetchCliArgs, type FetchCliPair } from './fetch-cli-args.js';
import type { FETCH_EXIT } from './fetch-cli.js';
import { loadPairedDevice, redeemQuickConnect, savePairedDevice, type PairedDevice } from './pairing.js';
import type { PinStore } from './pin-store.js';

/**
 * `sideband-fetch --device DIR` and `--pair CODE`: the device directory, pairing from the
 * command line, and what to tell the user when device credentials stop working.
 */

/** The paired-device record in a `--device` directory (client/pairing.ts format, 0600). */
export const DEVICE_RECORD_FILE = 'device.json';
/** The device key in a `--device` directory (client/device-key.ts format, 0600), created on pairing. */
export const DEVICE_KEY_FILE = 'device-key.json';

export interface DeviceCredentials {
  device: PairedDevice;
  key: DeviceKey;
}

/** A step's outcome: the value, or the exit (a FETCH_EXIT name) and the lines for stderr. */
export type DeviceStep<T> = { ok: true; value: T } | { ok: false; exit: keyof typeof FETCH_EXIT; lines: string[] };

const PAIR_AGAIN = 'pair again: ask the daemon owner for a new code, then run with --pair CODE --relay URL --device DIR';

/** What to do about a control-plane code from pairing or from a device's token request. */
const HINTS: Readonly<Record<string, string>> = {
  code_not_found: 'the code is unknown or was already used (each code works once); ask the daemon owner for a new one',
  code_expired: 'the code expired (codes last at most 5 minutes); ask the daemon owner for a new one',
  daemon_offline: 'the daemon must be connected while you pair; ask for a new code once it is',
  quick_connect_disabled: 'this relay runs without Quick Connect (relay --quick-connect)',
  invalid_request: 'check the code as the daemon printed it: 26 letters and digits, dashes and spaces optional',
  too_many_devices: 'the daemon has its maximum of devices; the owner must revoke one, then give you a new code',
  rate_limited: 'too many attempts; wait a minute and try again',
  device_revoked: `the daemon owner revoked this device; ${PAIR_AGAIN}`,
  device_not_found: `the relay does not know this device (revoked and removed, or the relay lost its data); ${PAIR_AGAIN}`,
  invalid_signature: `${DEVICE_KEY_FILE} is not the key this device was paired with; ${PAIR_AGAIN}`,
};

/** The advice line for a failure whose code the user can act on, or undefined. */
export function deviceHint(error: unknown): string | undefined {
  const code = errorCode(error);
  return code !== undefined && Object.hasOwn(HINTS, code) ? HINTS[code] : undefined;
}

/**
 * Loads DIR/device.json and DIR/device-key.json. Never creates the key: a fresh key cannot
 * sign for a paired record (the relay would answer `invalid_signature`).
 */
export async function loadDeviceCredentials(dir: string): Promise<DeviceStep<DeviceCredentials>> {
  try {
    const device = await loadPairedDevice(join(dir, DEVICE_RECORD_FILE));
    if (device === undefined) {
      return usage(`no paired device in ${dir} (${DEVICE_RECORD_FILE} is missing); pair first: --pair CODE --relay URL --device ${dir}`);
    }
    const problem = checkRecord(device);
    if (problem) return usage(`device record ${join(dir, DEVICE_RECORD_FILE)}: ${problem}; ${PAIR_AGAIN}`);
    const key = await loadDeviceKey(join(dir, DEVICE_KEY_FILE));
    if (key === undefined) return usage(`${join(dir, DEVICE_KEY_FILE)} is missing, and the record is useless without it; ${PAIR_AGAIN}`);
    return { ok: true, value: { device, key } };
  } catch (error) {
    return usage(fileProblem(error));
  }
}

/** Why flags given next to `--device` disagree with the record, or undefined. */
export function checkAgainstRecord(args: FetchCliArgs, device: PairedDevice): string | undefined {
  if (args.relay !== undefined && controlPlaneBaseUrl(args.relay).href !== controlPlaneBaseUrl(device.relayUrl).href) {
    return `--relay ${args.relay} differs from the relay this device was paired through (${device.relayUrl}); leave --relay out`;
  }
  if (args.daemonId !== undefined && args.daemonId !== device.daemonId) {
    return `--daemon ${args.daemonId} differs from the daemon this device is paired with (${device.daemonId}); leave --daemon out`;
  }
  return undefined;
}

/**
 * Creates the device key if absent, redeems `pair.code` at `relay`, pins the daemon identity
 * into `pinStore` and saves the record, then prints the one `paired with …` line. The code is
 * sent as typed: the relay owns its normalization and says `invalid_request` when it cannot
 * read it. An abort (SIGINT, --timeout) is rethrown for the caller to report.
 *
 * A new device is built in a hidden sibling directory and renamed into place only once
 * paired, so a refused code, a network failure or an interrupt leaves no half-made `dir`
 * behind. A directory that already holds a key (pairing again after a revocation) keeps it,
 * and gains the record only on success.
 */
export async function pairDevice(
  dir: string,
  relay: string,
  pair: FetchCliPair,
  pinStore: PinStore,
  signal: AbortSignal,
  err: (line: string) => void,
  fetchImpl?: typeof fetch,
  /** Why the relay could not be reached (e.g. `ECONNREFUSED`), when a call failed with `network_error`. */
  unreachable?: () => string | undefined,
): Promise<DeviceStep<DeviceCredentials>> {
  let key: DeviceKey | undefined;
  let staging: string | undefined;
  try {
    key = await loadDeviceKey(join(dir, DEVICE_KEY_FILE));
    if (key === undefined) {
      const parent = dirname(resolve(dir));
      await mkdir(parent, { recursive: true, mode: 0o700 });
      staging = await mkdtemp(join(parent, `.${basename(resolve(dir))}.pairing-`));
      ({ key } = await loadOrCreateDeviceKey(join(staging, DEVICE_KEY_FILE)));
    }
  } catch (error) {
    if (staging !== undefined) await rm(staging, { recursive: true, force: true });
    return usage(fileProblem(error));
  }
  try {
    return await redeemInto(dir, staging, key, relay, pair, pinStore, signal, err, fetchImpl, unreachable);
  } finally {
    if (staging !== undefined) await rm(staging, { recursive: true, force: true });
  }
}

async function redeemInto(
  dir: string,
  staging: string | undefined,
  key: DeviceKey,
  relay: string,
  pair: FetchCliPair,
  pinStore: PinStore,
  signal: AbortSignal,
  err: (line: string) => void,
  fetchImpl: typeof fetch | undefined,
  unreachable: (() => string | undefined) | undefined,
): Promise<DeviceStep<DeviceCredentials>> {
  let device: PairedDevice;
  try {
    device = await redeemQuickConnect({ relay, code: pair.code, deviceKey: key, label: pair.label, pinStore, signal, ...(fetchImpl ? { fetch: fetchImpl } : {}) });
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    if (error instanceof IdentityKeyChangedError) {
      return {
        ok: false,
        exit: 'identityChanged',
        lines: [
          `error: identity_key_changed: pairing offered daemon ${error.daemonId} with a different identity key than the one pinned`,
          `  pinned   ${error.pinnedFingerprint}`,
          `  offered  ${error.offeredFingerprint}`,
          'Nothing was saved. Compare the fingerprint the daemon prints; only if it matches the offered one, remove the old pin.',
        ],
      };
    }
    if (error instanceof ControlPlaneError && error.code === 'network_error') {
      return { ok: false, exit: 'noSession', lines: [`error: pairing failed: cannot reach the relay at ${relay}: ${unreachable?.() ?? error.message}`] };
    }
    if (error instanceof ControlPlaneError) {
      const hint = deviceHint(error);
      // Server codes are already in the message; local ones (network_error, timeout) are not.
      const text = error.message.includes(error.code) ? error.message : `${error.code}: ${error.message}`;
      return { ok: false, exit: 'noSession', lines: [`error: pairing failed: ${text}`, ...(hint ? [hint] : [])] };
    }
    return usage(fileProblem(error));
  }
  const problem = checkRecord(device);
  if (problem) return { ok: false, exit: 'noSession', lines: [`error: pairing failed: bad_response: the relay answered with ${problem}`] };
  try {
    if (staging === undefined) await savePairedDevice(join(dir, DEVICE_RECORD_FILE), device);
    else {
      await savePairedDevice(join(staging, DEVICE_RECORD_FILE), device);
      await moveIntoPlace(staging, dir);
    }
  } catch (error) {
    return usage(fileProblem(error));
  }
  err(`paired with daemon ${device.daemonId} as device ${device.deviceId}; daemon fingerprint ${fingerprint(fromBase64Url(device.daemonIdentityPublicKey))}`);
  return { ok: true, value: { device, key } };
}

/** Renames the staged directory to `dir`; into an existing non-empty `dir`, moves the key first and the record last. */
async function moveIntoPlace(staging: string, dir: string): Promise<void> {
  try {
    await rename(staging, dir); // atomic, also onto an empty directory
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
  }
  await rename(join(staging, DEVICE_KEY_FILE), join(dir, DEVICE_KEY_FILE));
  await rename(join(staging, DEVICE_RECORD_FILE), join(dir, DEVICE_RECORD_FILE));
}

/** The record comes from a file or the relay: check what the CLI will connect with. */
function checkRecord(device: PairedDevice): string | undefined {
  if (checkRelayUrl(device.relayUrl) !== undefined) return 'an unusable relayUrl';
  if (!isDaemonId(device.daemonId)) return 'an unusable daemonId';
  return undefined;
}

function fileProblem(error: unknown): string {
  if (error instanceof FileError) return `${error.code}: ${error.message}`;
  const code = errorCode(error);
  const path = (error as NodeJS.ErrnoException | undefined)?.path;
  return `cannot use the device directory${path ? ` (${path})` : ''}: ${code ?? (error as Error)?.message ?? String(error)}`;
}

function usage(message: string): DeviceStep<never> {
  return { ok: false, exit: 'usage', lines: [`error: ${message}`] };
}
