import { randomBytes } from 'node:crypto';
import type { CompactVerifyGetKey, JSONWebKeySet } from 'jose';
import { encodeSid, randomSessionId } from '../../protocol/session-id.js';
import { HttpError } from '../http-error.js';
import { RESUME_SCOPE } from '../token-verifier.js';
import { apiKeyDaemonId, hashSecret, newApiKey, newDaemonId, secretMatchesHash } from './api-keys.js';
import { hasUnsafeLabelCharacter, parseEd25519PublicKey } from './input-checks.js';
import { DEFAULT_PAIRING_LIMITS, Pairing, type PairingLimits } from './pairing.js';
import { DEFAULT_SIGNING_KEY_OVERLAP_MS, SigningKeyRing } from './signing-keys.js';
import { DuplicateRecordError, StoreFullError, type ControlPlaneStore, type DaemonRecord } from './store.js';
import { TokenIssuer } from './token-issuer.js';

export interface ControlPlaneOptions {
  store: ControlPlaneStore;
  /** `iss` of every token. */
  issuer: string;
  /** Whether a daemon currently holds a relay connection (for `GET /v1/daemons/:id`). */
  isOnline?: (daemonId: string) => boolean | Promise<boolean>;
  /** Presence token lifetime in seconds. Default 3600 (sbrp.md §5: about 1 h). */
  presenceLifetimeS?: number;
  /** Client session token lifetime in seconds. Default 60; at most 300 (sbrp.md §5). */
  sessionLifetimeS?: number;
  /** Enables Quick Connect (default off: both endpoints answer 403 `quick_connect_disabled`). */
  quickConnect?: boolean;
  pairingLimits?: Partial<PairingLimits>;
  /** The relay URL devices get at pairing, and the web app the pairing link opens. Default: the issuer. */
  urls?: () => { relayUrl: string; webAppUrl: string };
  /** How long a rotated-out signing key stays in the JWKS. Default 2 h. */
  signingKeyOverlapMs?: number;
  now?: () => number;
}

export interface RegisterDaemonInput {
  /** base64url of the 32-byte Ed25519 identity public key. */
  identityPublicKey: string;
  label?: string;
}

export interface RegisteredDaemon {
  daemonId: string;
  /** Shown once; only its hash is stored. */
  apiKey: string;
}

export interface PresenceTokenResponse {
  token: string;
  daemonId: string;
  expiresAt: number;
}

export interface SessionTokenResponse {
  token: string;
  /** base64url SessionID, as in the token. */
  sid: string;
  /** The same SessionID as a decimal string (64-bit values do not fit a JSON number). */
  sessionId: string;
  daemonId: string;
  expiresAt: number;
}

export interface DaemonInfo {
  daemonId: string;
  identityPublicKey: string;
  label: string;
  online: boolean;
}

export const MAX_LABEL_LENGTH = 128;

/**
 * The control plane (design.md): registers daemons, issues presence and session tokens, and
 * publishes its JWKS. It signs; the relay data plane only verifies (sbrp.md §5). Every method
 * throws `HttpError` with a stable code, so the HTTP layer is a thin adapter.
 *
 * @example
 * const cp = await ControlPlane.create({ store: new MemoryControlPlaneStore(), issuer: 'sideband-control-plane' });
 * const { daemonId, apiKey } = await cp.registerDaemon({ identityPublicKey });
 * const { token } = await cp.issuePresenceToken(daemonId);
 */
export class ControlPlane {
  readonly issuer: string;
  private readonly store: ControlPlaneStore;
  private readonly ring: SigningKeyRing;
  private readonly issuerSigner: TokenIssuer;
  private readonly isOnline: (daemonId: string) => boolean | Promise<boolean>;
  private readonly presenceLifetimeS: number;
  private readonly sessionLifetimeS: number;
  private readonly signingKeyOverlapMs: number;
  private readonly now: () => number;
  private readonly unsubscribe: () => void;
  /** Quick Connect and device credentials. */
  readonly pairing: Pairing;

  private constructor(options: ControlPlaneOptions, ring: SigningKeyRing) {
    this.issuer = options.issuer;
    this.store = options.store;
    this.ring = ring;
    this.now = options.now ?? Date.now;
    this.issuerSigner = new TokenIssuer(ring, options.issuer, this.now);
    this.isOnline = options.isOnline ?? (() => false);
    this.presenceLifetimeS = options.presenceLifetimeS ?? 3600;
    this.sessionLifetimeS = options.sessionLifetimeS ?? 60;
    if (!(this.sessionLifetimeS > 0 && this.sessionLifetimeS <= 300)) {
      throw new RangeError('sessionLifetimeS must be in (0, 300] (sbrp.md §5)');
    }
    if (!(this.presenceLifetimeS > 0 && Number.isFinite(this.presenceLifetimeS))) {
      throw new RangeError('presenceLifetimeS must be a finite number > 0');
    }
    this.signingKeyOverlapMs = options.signingKeyOverlapMs ?? DEFAULT_SIGNING_KEY_OVERLAP_MS;
    if (!(this.signingKeyOverlapMs > 0 && Number.isFinite(this.signingKeyOverlapMs))) throw new RangeError('signingKeyOverlapMs must be a finite number > 0');
    const urls = options.urls ?? (() => ({ relayUrl: options.issuer, webAppUrl: options.issuer }));
    this.pairing = new Pairing({
      store: this.store,
      quickConnect: options.quickConnect ?? false,
      limits: { ...DEFAULT_PAIRING_LIMITS, ...options.pairingLimits },
      urls,
      isOnline: this.isOnline,
      daemonIdentityKey: async (daemonId) => (await this.store.getDaemon(daemonId))?.identityPublicKey,
      issueSessionToken: (daemonId, principal) => this.issueSessionToken(daemonId, principal),
      now: this.now,
    });
    // A rotation elsewhere (another relay node sharing the store) must reach this node's keys.
    this.unsubscribe = this.store.subscribe((event) => {
      if (event.type === 'signing_keys_changed') void this.ring.reload().catch(() => {});
    });
  }

  static async create(options: ControlPlaneOptions): Promise<ControlPlane> {
    return new ControlPlane(options, await SigningKeyRing.load(options.store, options.now));
  }

  /** Public keys, for `/.well-known/jwks.json`. */
  get jwks(): JSONWebKeySet {
    return this.ring.jwks;
  }

  /** Key resolver for an in-process TokenVerifier. */
  get keyResolver(): CompactVerifyGetKey {
    return this.ring.keyResolver;
  }

  async registerDaemon(input: RegisterDaemonInput): Promise<RegisteredDaemon> {
    const identityPublicKey = checkIdentityKey(input.identityPublicKey);
    const label = input.label ?? '';
    // Labels are shown to owners (CLI, web UI): control and bidi characters could deceive them.
    if (typeof label !== 'string' || label.length > MAX_LABEL_LENGTH || hasUnsafeLabelCharacter(label)) {
      throw new HttpError('invalid_request', `label must be a string of at most ${MAX_LABEL_LENGTH} characters without control or bidi-override characters`);
    }
    // A 96-bit id collides only by accident; one retry turns that accident into a non-event.
    for (let attempt = 0; ; attempt++) {
      const daemonId = newDaemonId();
      const apiKey = newApiKey(daemonId);
      const record: DaemonRecord = { daemonId, identityPublicKey, label, apiKeyHash: hashSecret(apiKey), createdAt: this.now() };
      try {
        await this.store.insertDaemon(record);
        return { daemonId, apiKey };
      } catch (error) {
        if (error instanceof StoreFullError) throw new HttpError('store_full', 'no room for another daemon');
        if (!(error instanceof DuplicateRecordError) || attempt > 0) throw error;
      }
    }
  }

  /** The daemon an API key belongs to, or undefined; the hash comparison is constant-time. */
  async authenticateApiKey(apiKey: string): Promise<DaemonRecord | undefined> {
    const daemonId = apiKeyDaemonId(apiKey);
    const record = daemonId === undefined ? undefined : await this.store.getDaemon(daemonId);
    // Hash even when there is no record so a miss costs about as much as a wrong key.
    const matches = secretMatchesHash(apiKey, record?.apiKeyHash ?? '0'.repeat(64));
    return matches ? record : undefined;
  }

  /** The current signing key id (changes with `rotateSigningKey`). */
  get signingKeyId(): string {
    return this.ring.kid;
  }

  async getDaemon(daemonId: string): Promise<DaemonInfo | undefined> {
    const record = await this.store.getDaemon(daemonId);
    if (!record) return undefined;
    return { daemonId, identityPublicKey: record.identityPublicKey, label: record.label, online: await this.isOnline(daemonId) };
  }

  /**
   * Replaces a daemon's API key; the old key stops working at once. `currentKey` (when the
   * daemon itself asks) must still be current at the moment of the swap, so of two concurrent
   * rotations with the same key exactly one wins; the other gets `key_conflict`.
   */
  async rotateApiKey(daemonId: string, currentKey?: string): Promise<{ apiKey: string }> {
    const record = await this.store.getDaemon(daemonId);
    if (!record) throw new HttpError('daemon_not_found', 'no such daemon');
    const expectedHash = currentKey === undefined ? record.apiKeyHash : hashSecret(currentKey);
    const apiKey = newApiKey(daemonId);
    if (!(await this.store.replaceApiKeyHash(daemonId, expectedHash, hashSecret(apiKey)))) {
      throw new HttpError('key_conflict', 'the key was rotated meanwhile; use the newest key');
    }
    return { apiKey };
  }

  /**
   * Makes a new signing key active. The previous key stays in the JWKS for the overlap (default
   * 2 h, longer than a presence token lives); any older key leaves at once.
   */
  async rotateSigningKey(): Promise<{ kid: string; previousKid: string; previousRetiresAt: number }> {
    const rotated = await this.ring.rotate(this.signingKeyOverlapMs);
    return { ...rotated, previousRetiresAt: Math.floor(rotated.previousRetiresAt / 1000) };
  }

  /** Housekeeping: drops expired codes, challenges, retired keys and long-revoked devices. */
  async purgeExpired(): Promise<void> {
    await this.store.purgeExpired(this.now());
  }

  /** Stops listening to store events. Idempotent. */
  close(): void {
    this.unsubscribe();
  }

  async hasDaemon(daemonId: string): Promise<boolean> {
    return (await this.store.getDaemon(daemonId)) !== undefined;
  }

  /** Presence token: role daemon, sub = did = daemonId, `session:resume` unless `resume: false`. */
  async issuePresenceToken(daemonId: string, options: { resume?: boolean } = {}): Promise<PresenceTokenResponse> {
    await this.requireDaemon(daemonId);
    const scp = options.resume === false ? [] : [RESUME_SCOPE];
    const { token, expiresAt } = await this.issuerSigner.issue({ role: 'daemon', sub: daemonId, did: daemonId, scp }, this.presenceLifetimeS);
    return { token, daemonId, expiresAt };
  }

  /**
   * Client token for one connection attempt: a fresh random non-zero `sid` every call
   * (sbrp.md §5). `principal` is who asked ("admin", "daemon-key:<id>", "device:<id>").
   */
  async issueSessionToken(daemonId: string, principal: string): Promise<SessionTokenResponse> {
    if (typeof principal !== 'string' || principal.length === 0) throw new HttpError('invalid_request', 'principal must be non-empty');
    await this.requireDaemon(daemonId);
    const sessionId = randomSessionId((n) => randomBytes(n));
    const sid = encodeSid(sessionId);
    const { token, expiresAt } = await this.issuerSigner.issue({ role: 'client', sub: principal, did: daemonId, sid }, this.sessionLifetimeS);
    return { token, sid, sessionId: sessionId.toString(10), daemonId, expiresAt };
  }

  private async requireDaemon(daemonId: string): Promise<void> {
    if (typeof daemonId !== 'string' || !(await this.hasDaemon(daemonId))) {
      throw new HttpError('daemon_not_found', 'no such daemon');
    }
  }
}

/** Accepts exactly 32 canonical base64url bytes of an Ed25519 point that is not of small order (input-checks.ts). */
function checkIdentityKey(value: unknown): string {
  if (typeof value !== 'string') throw new HttpError('invalid_request', 'identityPublicKey must be a base64url string');
  if (!parseEd25519PublicKey(value)) {
    throw new HttpError('invalid_request', 'identityPublicKey must be base64url (no padding) of a 32-byte Ed25519 public key that is not of small order');
  }
  return value;
}
