import { bytesEqual } from '../protocol/bytes.js';

/**
 * Pinned daemon identity keys, per daemon id (sbrp.md §5 TOFU). Pins never travel through
 * the relay. `pin` is first contact only and never replaces a different key; `approve` is the
 * explicit user decision that does.
 */
export interface PinStore {
  get(daemonId: string): Promise<Uint8Array | undefined>;
  /** Stores `key` if nothing is pinned yet; returns the key in force afterwards. */
  pin(daemonId: string, key: Uint8Array): Promise<Uint8Array>;
  /** Replaces the pin: only after a user compared the fingerprints and approved. */
  approve(daemonId: string, key: Uint8Array): Promise<void>;
  remove(daemonId: string): Promise<void>;
}

/** Pins in memory, for tests and short-lived tools. */
export class MemoryPinStore implements PinStore {
  private readonly pins = new Map<string, Uint8Array>();

  async get(daemonId: string): Promise<Uint8Array | undefined> {
    return this.pins.get(daemonId)?.slice();
  }

  async pin(daemonId: string, key: Uint8Array): Promise<Uint8Array> {
    checkPinKey(key);
    const existing = this.pins.get(daemonId);
    if (existing) return existing.slice();
    this.pins.set(daemonId, key.slice());
    return key.slice();
  }

  async approve(daemonId: string, key: Uint8Array): Promise<void> {
    checkPinKey(key);
    this.pins.set(daemonId, key.slice());
  }

  async remove(daemonId: string): Promise<void> {
    this.pins.delete(daemonId);
  }
}

/** Whether `key` equals the pin in force (constant time). */
export function samePin(pinned: Uint8Array, key: Uint8Array): boolean {
  return bytesEqual(pinned, key);
}

/** Throws unless `key` is a 32-byte Ed25519 public key. */
export function checkPinKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== 32) throw new TypeError('an Ed25519 identity key is 32 bytes');
}
