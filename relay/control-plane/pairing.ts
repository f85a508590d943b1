import { HttpError } from '../http-error.js';
import { deviceTokenMessage, isChallenge, isDeviceId, isDevicePublicKey, newChallenge, newDeviceId, verifyDeviceSignature } from './device-auth.js';
import { generateCode, hashCode, MAX_CODE_INPUT_LENGTH, normalizeCode } from './quick-connect-code.js';
import { hasUnsafeLabelCharacter } from './input-checks.js';
import { DuplicateRecordError, LimitReachedError, RateLimitedError, StoreFullError, type ControlPlaneStore, type DeviceRecord } from './store.js';

/** Bounds of pairing (sbrp.md §5 fixes the first three). */
export interface PairingLimits {
  /** Longest Quick Connect code lifetime, seconds. sbrp.md §5: at most 5 minutes. */
  maxQuickConnectTtlS: number;
  /** Code creations per daemon per minute. sbrp.md §5: 10. */
  quickConnectsPerMinute: number;
  /** Unrevoked devices per daemon. */
  maxDevicesPerDaemon: number;
  /** Outstanding challenges per device; the oldest is dropped past it. */
  maxChallengesPerDevice: number;
  /** Challenge lifetime, seconds. */
  challengeTtlS: number;
}

export const DEFAULT_PAIRING_LIMITS: Readonly<PairingLimits> = Object.freeze({
  maxQuickConnectTtlS: 300,
  quickConnectsPerMinute: 10,
  maxDevicesPerDaemon: 100,
  maxChallengesPerDevice: 8,
  challengeTtlS: 60,
});

export const MAX_DEVICE_LABEL_LENGTH = 128;

export interface PairingOptions {
  store: ControlPlaneStore;
  /** Off by default: without it both Quick Connect endpoints answer 403 `quick_connect_disabled`. */
  quickConnect: boolean;
  limits: PairingLimits;
  /** Where devices connect (the answer of a redeem) and where the pairing link points. */
  urls: () => { relayUrl: string; webAppUrl: string };
  /** Whether the daemon holds a relay socket (on any node of a cluster). */
  isOnline: (daemonId: string) => boolean | Promise<boolean>;
  daemonIdentityKey: (daemonId: string) => Promise<string | undefined>;
  /** Issues a client token naming `daemonId`, with `principal` as `sub`. */
  issueSessionToken: (daemonId: string, principal: string) => Promise<DeviceTokenResponse>;
  now: () => number;
}

export interface QuickConnectResponse {
  /** Grouped for display, e.g. `7KQ2M-XD9RP-4TAVB-0HNZC-W3E8FJ`. Shown once; only its hash is stored. */
  code: string;
  /** Epoch seconds. */
  expiresAt: number;
  /** `${webAppUrl}/#pair=${code}`: the fragment never reaches a server log. */
  link: string;
}

export interface RedeemInput {
  code: unknown;
  devicePublicKey: unknown;
  label?: unknown;
}

export interface RedeemResponse {
  daemonId: string;
  relayUrl: string;
  deviceId: string;
  /** base64url Ed25519 identity key, for the client's first pin (sbrp.md §5 TOFU). */
  daemonIdentityPublicKey: string;
}

export interface ChallengeResponse {
  challenge: string;
  /** Epoch seconds. */
  expiresAt: number;
}

export interface DeviceTokenResponse {
  token: string;
  sid: string;
  sessionId: string;
  daemonId: string;
  expiresAt: number;
}

export interface DeviceInfo {
  deviceId: string;
  label: string;
  /** Epoch seconds. */
  createdAt: number;
  lastSeenAt: number | null;
  revoked: boolean;
}

/** The `sub` of a device's session tokens; the relay closes connections by it on revocation. */
export function devicePrincipal(deviceId: string): string {
  return `device:${deviceId}`;
}

/**
 * Quick Connect and device credentials (design.md: pairing; sbrp.md §5). Every method throws
 * `HttpError` with a stable code.
 *
 *   daemon (API key) ──createQuickConnect──► code ──(user types or scans)──► device
 *   device ──redeem(code, devicePublicKey)──► deviceId, daemon identity key (first pin)
 *   device ──challenge(deviceId)──► challenge ──sign──► deviceToken ──► session token (60 s)
 */
export class Pairing {
  private readonly o: PairingOptions;

  constructor(options: PairingOptions) {
    this.o = options;
    const l = options.limits;
    if (!(l.maxQuickConnectTtlS > 0 && l.maxQuickConnectTtlS <= 300)) throw new RangeError('maxQuickConnectTtlS must be in (0, 300] (sbrp.md §5)');
  }

  get quickConnectEnabled(): boolean {
    return this.o.quickConnect;
  }

  /** A new code for `daemonId` (authenticated by the caller), valid `ttlSeconds` (default and max 300). */
  async createQuickConnect(daemonId: string, options: { ttlSeconds?: unknown } = {}): Promise<QuickConnectResponse> {
    this.requireEnabled();
    const max = this.o.limits.maxQuickConnectTtlS;
    const ttl = options.ttlSeconds === undefined ? max : options.ttlSeconds;
    if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 1 || ttl > max) {
      throw new HttpError('invalid_request', `ttlSeconds must be a whole number from 1 to ${max}`);
    }
    const now = this.o.now();
    const code = generateCode();
    const expiresAtMs = now + ttl * 1000;
    try {
      await this.o.store.insertQuickConnect(
        { codeHash: hashCode(normalizeCode(code)!), daemonId, createdAt: now, expiresAt: expiresAtMs },
        { max: this.o.limits.quickConnectsPerMinute, windowMs: 60_000 },
      );
    } catch (error) {
      if (error instanceof RateLimitedError) {
        const retryAfterS = Math.max(1, Math.ceil(error.retryAfterMs / 1000));
        throw new HttpError('rate_limited', `at most ${this.o.limits.quickConnectsPerMinute} codes per minute; retry in ${retryAfterS} s`, {
          'retry-after': String(retryAfterS),
        });
      }
      throw storeError(error);
    }
    const webAppUrl = this.o.urls().webAppUrl.replace(/\/+$/, '');
    return { code, expiresAt: Math.floor(expiresAtMs / 1000), link: `${webAppUrl}/#pair=${code}` };
  }

  /**
   * Redeems a code and enrolls the device. Only the request's syntax is checked before the code
   * is consumed (a malformed request from a buggy client must not burn the user's code, and
   * syntax says nothing about any code); after that, the atomic consumption comes first and
   * every other check (expiry, daemon online, device limit) follows it (sbrp.md §5).
   */
  async redeem(input: RedeemInput): Promise<RedeemResponse> {
    this.requireEnabled();
    if (typeof input.code !== 'string' || input.code.length > MAX_CODE_INPUT_LENGTH) {
      throw new HttpError('invalid_request', 'code must be a string');
    }
    const symbols = normalizeCode(input.code);
    if (!symbols) throw new HttpError('invalid_request', 'code must be 26 letters and digits (dashes and spaces are ignored)');
    if (!isDevicePublicKey(input.devicePublicKey)) {
      throw new HttpError('invalid_request', 'devicePublicKey must be base64url of a 32-byte Ed25519 public key');
    }
    const label = checkLabel(input.label);
    const codeHash = hashCode(symbols);

    const consumed = await this.o.store.consumeQuickConnect(codeHash, this.o.now());
    switch (consumed.outcome) {
      case 'not_found':
        throw new HttpError('code_not_found', 'no such code, or it was already used');
      case 'expired':
        throw new HttpError('code_expired', 'this code has expired; get a new code');
      case 'daemon_offline':
        throw offlineError();
      case 'redeemed':
        break;
    }
    const { daemonId } = consumed.record;
    const identityKey = await this.o.daemonIdentityKey(daemonId);
    if (identityKey === undefined) throw new HttpError('code_not_found', 'no such code, or it was already used');
    if (!(await this.o.isOnline(daemonId))) {
      await this.o.store.markQuickConnectOffline(codeHash);
      throw offlineError();
    }
    const device: DeviceRecord = { deviceId: newDeviceId(), daemonId, publicKey: input.devicePublicKey, label, createdAt: this.o.now() };
    try {
      await this.o.store.insertDevice(device, this.o.limits.maxDevicesPerDaemon);
    } catch (error) {
      if (error instanceof LimitReachedError) {
        throw new HttpError('too_many_devices', `the daemon already has ${this.o.limits.maxDevicesPerDaemon} devices; revoke one, then get a new code`);
      }
      throw storeError(error);
    }
    return { daemonId, relayUrl: this.o.urls().relayUrl, deviceId: device.deviceId, daemonIdentityPublicKey: identityKey };
  }

  /** A single-use challenge for `deviceId` (60 s). Unauthenticated: a challenge is useless without the device key. */
  async challenge(deviceId: unknown): Promise<ChallengeResponse> {
    const device = await this.requireDevice(deviceId);
    const now = this.o.now();
    const challenge = newChallenge();
    const expiresAtMs = now + this.o.limits.challengeTtlS * 1000;
    try {
      await this.o.store.insertChallenge({ challenge, deviceId: device.deviceId, createdAt: now, expiresAt: expiresAtMs }, this.o.limits.maxChallengesPerDevice);
    } catch (error) {
      throw storeError(error);
    }
    return { challenge, expiresAt: Math.floor(expiresAtMs / 1000) };
  }

  /**
   * A session token for a device that signed a challenge. The challenge is consumed before the
   * signature is checked, so each one gets exactly one try (no replay, no retries).
   */
  async deviceToken(input: { deviceId: unknown; challenge: unknown; signature: unknown }): Promise<DeviceTokenResponse> {
    if (!isDeviceId(input.deviceId)) throw new HttpError('invalid_request', 'deviceId must be a device id');
    if (!isChallenge(input.challenge)) throw new HttpError('invalid_request', 'challenge must be a challenge from /v1/devices/challenge');
    if (typeof input.signature !== 'string' || input.signature.length > 128) throw new HttpError('invalid_request', 'signature must be base64url');
    const deviceId = input.deviceId;
    const consumed = await this.o.store.consumeChallenge(input.challenge);
    if (!consumed || consumed.deviceId !== deviceId || consumed.expiresAt <= this.o.now()) {
      throw new HttpError('challenge_not_found', 'unknown, used or expired challenge; ask for a new one');
    }
    const device = await this.requireDevice(deviceId);
    if (!verifyDeviceSignature(device.publicKey, deviceTokenMessage(input.challenge, deviceId), input.signature)) {
      throw new HttpError('invalid_signature', 'the signature does not verify with the device key');
    }
    const token = await this.o.issueSessionToken(device.daemonId, devicePrincipal(deviceId));
    await this.o.store.touchDevice(deviceId, this.o.now());
    return token;
  }

  async listDevices(daemonId: string): Promise<DeviceInfo[]> {
    return (await this.o.store.listDevices(daemonId)).map((d) => ({
      deviceId: d.deviceId,
      label: d.label,
      createdAt: Math.floor(d.createdAt / 1000),
      lastSeenAt: d.lastSeenAt === undefined ? null : Math.floor(d.lastSeenAt / 1000),
      revoked: d.revokedAt !== undefined,
    }));
  }

  /** Revokes a device of `daemonId`; the store's `device_revoked` event makes the relay close its sessions. */
  async revokeDevice(daemonId: string, deviceId: string): Promise<void> {
    if (!isDeviceId(deviceId) || !(await this.o.store.revokeDevice(deviceId, daemonId, this.o.now()))) {
      throw new HttpError('device_not_found', 'no such device for this daemon');
    }
  }

  /** For the relay's upgrade check: may a token with this `sub` and `did` still connect? */
  async principalAllowed(sub: string, did: string): Promise<boolean> {
    if (!sub.startsWith('device:')) return true;
    const device = await this.o.store.getDevice(sub.slice('device:'.length));
    return device !== undefined && device.revokedAt === undefined && device.daemonId === did;
  }

  private requireEnabled(): void {
    if (!this.o.quickConnect) throw new HttpError('quick_connect_disabled', 'Quick Connect is disabled on this relay (start it with --quick-connect)');
  }

  private async requireDevice(deviceId: unknown): Promise<DeviceRecord> {
    if (!isDeviceId(deviceId)) throw new HttpError('invalid_request', 'deviceId must be a device id');
    const device = await this.o.store.getDevice(deviceId);
    if (!device) throw new HttpError('device_not_found', 'no such device; pair again');
    if (device.revokedAt !== undefined) throw new HttpError('device_revoked', 'this device was revoked by the daemon owner; pair again');
    return device;
  }
}

function checkLabel(value: unknown): string {
  if (value === undefined) return '';
  // Labels are printed by the daemon CLI: control characters could drive the owner's terminal,
  // bidi overrides could make one label read as another.
  if (typeof value !== 'string' || value.length > MAX_DEVICE_LABEL_LENGTH || hasUnsafeLabelCharacter(value)) {
    throw new HttpError('invalid_request', `label must be text of at most ${MAX_DEVICE_LABEL_LENGTH} characters without control or bidi-override characters`);
  }
  return value;
}

function offlineError(): HttpError {
  return new HttpError('daemon_offline', 'the daemon was offline, so this code is used up; start the daemon and get a new code');
}

function storeError(error: unknown): unknown {
  if (error instanceof StoreFullError) return new HttpError('store_full', 'the control plane is out of room');
  // 26 random symbols or 32 random bytes colliding is not a real event; report it like any fault.
  if (error instanceof DuplicateRecordError) return new HttpError('internal_error', 'internal error');
  return error;
}
