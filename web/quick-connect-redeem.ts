import { bytesEqual, fromBase64Url } from '../protocol/bytes.js';
import { IdentityKeyChangedError } from '../protocol/errors.js';
import { fingerprint } from '../protocol/fingerprint.js';
import { controlPlaneRequest, stringField, type ControlPlaneCallOptions } from './control-plane-request.js';
import { ControlPlaneError } from './errors.js';
import type { PinStore } from './pin-store.js';

/** What a paired device knows besides its key. None of it is a secret: without the key it buys no token. */
export interface PairedDevice {
  deviceId: string;
  daemonId: string;
  /** Relay base URL to connect through. */
  relayUrl: string;
  /** base64url Ed25519 identity key of the daemon, as the control plane registered it. */
  daemonIdentityPublicKey: string;
}

export interface RedeemCodeOptions extends ControlPlaneCallOptions {
  /** Relay base URL, e.g. `https://relay.example`. */
  relay: string;
  /** As the daemon printed it; case, dashes and spaces do not matter. */
  code: string;
  /** base64url of the device's 32-byte Ed25519 public key. */
  devicePublicKey: string;
  /** Shown to the daemon owner in the device list (at most 128 characters). */
  label?: string;
  /**
   * Pins the daemon identity key from the answer (sbrp.md §5 first contact, at pairing). When
   * a different key is pinned already, throws `IdentityKeyChangedError`.
   */
  pinStore?: PinStore;
}

/**
 * Redeems a Quick Connect code (the same in Node and in the service worker): sends the
 * device's public key, gets its device id and the daemon it is now paired with. The code is
 * single use whatever the outcome; on failure the `ControlPlaneError` code says what to tell
 * the user (`code_not_found`, `code_expired`, `daemon_offline`: get a new code).
 *
 *   const device = await redeemQuickConnectCode({ relay, code, devicePublicKey, pinStore });
 */
export async function redeemQuickConnectCode(options: RedeemCodeOptions): Promise<PairedDevice> {
  const body: Record<string, unknown> = { code: options.code, devicePublicKey: options.devicePublicKey };
  if (options.label !== undefined) body.label = options.label;
  const json = await controlPlaneRequest(options.relay, { method: 'POST', path: '/v1/quick-connect/redeem', body }, options);
  const device: PairedDevice = {
    deviceId: stringField(json, 'deviceId'),
    daemonId: stringField(json, 'daemonId'),
    relayUrl: stringField(json, 'relayUrl'),
    daemonIdentityPublicKey: stringField(json, 'daemonIdentityPublicKey'),
  };
  const identityKey = decodeIdentityKey(device.daemonIdentityPublicKey);
  if (!identityKey) throw new ControlPlaneError('bad_response', 'daemonIdentityPublicKey is not a 32-byte key', 201);
  if (options.pinStore) {
    const inForce = await options.pinStore.pin(device.daemonId, identityKey);
    if (!bytesEqual(inForce, identityKey)) {
      throw new IdentityKeyChangedError(device.daemonId, fingerprint(inForce), fingerprint(identityKey), identityKey);
    }
  }
  return device;
}

/** A base64url 32-byte Ed25519 public key, or undefined when it is not one. */
export function decodeIdentityKey(value: string): Uint8Array | undefined {
  try {
    const bytes = fromBase64Url(value);
    return bytes.length === 32 ? bytes : undefined;
  } catch {
    return undefined;
  }
}
