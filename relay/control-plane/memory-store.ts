import {
  DuplicateRecordError, LimitReachedError, QUICK_CONNECT_RETENTION_MS, RateLimitedError, REVOKED_DEVICE_RETENTION_MS, StoreEvents,
  StoreFullError, activeSigningKey, type ChallengeRecord, type ControlPlaneEvent, type ControlPlaneStore, type DaemonRecord, type DeviceRecord,
  type QuickConnectOutcome, type QuickConnectRecord, type SigningKeyRecord,
} from './store.js';

export interface MemoryStoreOptions {
  /** Default 100 000 daemons. */
  maxDaemons?: number;
  /** Default 16 signing keys. */
  maxSigningKeys?: number;
  /** Default 100 000 devices (revoked ones count until purged). */
  maxDevices?: number;
  /** Default 100 000 Quick Connect codes (used and expired ones count until purged). */
  maxQuickConnects?: number;
  /** Default 100 000 outstanding challenges. */
  maxChallenges?: number;
}

type CodeState = 'live' | 'used' | 'expired' | 'offline';

/**
 * Process-local store: the default when the relay has no `dataDir`, and the reference the
 * SQLite store is tested against. Records are copied in and out so callers cannot change stored
 * state by mutating an object they hold. Every method runs without an `await` inside, so each
 * one is atomic with respect to the others.
 */
export class MemoryControlPlaneStore implements ControlPlaneStore {
  private readonly daemons = new Map<string, DaemonRecord>();
  private signingKeys: SigningKeyRecord[] = [];
  private readonly devices = new Map<string, DeviceRecord>();
  private readonly codes = new Map<string, { record: QuickConnectRecord; state: CodeState }>();
  /** Insertion order is creation order, which `insertChallenge` relies on to drop the oldest. */
  private readonly challenges = new Map<string, ChallengeRecord>();
  private readonly events = new StoreEvents();
  private readonly limits: Required<MemoryStoreOptions>;

  constructor(options: MemoryStoreOptions = {}) {
    this.limits = {
      maxDaemons: options.maxDaemons ?? 100_000,
      maxSigningKeys: options.maxSigningKeys ?? 16,
      maxDevices: options.maxDevices ?? 100_000,
      maxQuickConnects: options.maxQuickConnects ?? 100_000,
      maxChallenges: options.maxChallenges ?? 100_000,
    };
  }

  async insertDaemon(record: DaemonRecord): Promise<void> {
    if (this.daemons.has(record.daemonId)) throw new DuplicateRecordError(`daemon ${record.daemonId} exists`);
    if (this.daemons.size >= this.limits.maxDaemons) throw new StoreFullError(`store holds ${this.limits.maxDaemons} daemons`);
    this.daemons.set(record.daemonId, { ...record });
  }

  async getDaemon(daemonId: string): Promise<DaemonRecord | undefined> {
    const record = this.daemons.get(daemonId);
    return record && { ...record };
  }

  async replaceApiKeyHash(daemonId: string, expectedHash: string, newHash: string): Promise<boolean> {
    const record = this.daemons.get(daemonId);
    if (!record || record.apiKeyHash !== expectedHash) return false;
    record.apiKeyHash = newHash;
    return true;
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    return this.signingKeys.map((key) => structuredClone(key));
  }

  async insertSigningKey(record: SigningKeyRecord): Promise<void> {
    if (this.signingKeys.some((key) => key.kid === record.kid)) throw new DuplicateRecordError(`signing key ${record.kid} exists`);
    if (this.signingKeys.length >= this.limits.maxSigningKeys) throw new StoreFullError(`store holds ${this.limits.maxSigningKeys} signing keys`);
    this.signingKeys.push(structuredClone(record));
  }

  async rotateSigningKey(next: SigningKeyRecord, previousRetiresAt: number): Promise<void> {
    if (this.signingKeys.some((key) => key.kid === next.kid)) throw new DuplicateRecordError(`signing key ${next.kid} exists`);
    const current = activeSigningKey(this.signingKeys);
    const kept = current ? [{ ...structuredClone(current), retiresAt: previousRetiresAt }] : [];
    this.signingKeys = [...kept, structuredClone(next)];
    this.events.emit({ type: 'signing_keys_changed' });
  }

  async insertQuickConnect(record: QuickConnectRecord, limit: { max: number; windowMs: number }): Promise<void> {
    if (this.codes.has(record.codeHash)) throw new DuplicateRecordError('code exists');
    const since = record.createdAt - limit.windowMs;
    const recent = [...this.codes.values()].filter((c) => c.record.daemonId === record.daemonId && c.record.createdAt > since);
    if (recent.length >= limit.max) {
      const oldest = Math.min(...recent.map((c) => c.record.createdAt));
      throw new RateLimitedError(`at most ${limit.max} codes per ${limit.windowMs / 1000} s`, oldest + limit.windowMs - record.createdAt);
    }
    if (this.codes.size >= this.limits.maxQuickConnects) throw new StoreFullError(`store holds ${this.limits.maxQuickConnects} codes`);
    this.codes.set(record.codeHash, { record: { ...record }, state: 'live' });
  }

  async consumeQuickConnect(codeHash: string, now: number): Promise<QuickConnectOutcome> {
    const entry = this.codes.get(codeHash);
    if (!entry || entry.state === 'used') return { outcome: 'not_found' };
    if (entry.state === 'offline') return { outcome: 'daemon_offline' };
    if (entry.state === 'expired' || entry.record.expiresAt <= now) {
      entry.state = 'expired';
      return { outcome: 'expired' };
    }
    entry.state = 'used';
    return { outcome: 'redeemed', record: { ...entry.record } };
  }

  async markQuickConnectOffline(codeHash: string): Promise<void> {
    const entry = this.codes.get(codeHash);
    if (entry) entry.state = 'offline';
  }

  async insertDevice(record: DeviceRecord, maxActivePerDaemon: number): Promise<void> {
    if (this.devices.has(record.deviceId)) throw new DuplicateRecordError(`device ${record.deviceId} exists`);
    const active = [...this.devices.values()].filter((d) => d.daemonId === record.daemonId && d.revokedAt === undefined).length;
    if (active >= maxActivePerDaemon) throw new LimitReachedError(`daemon has ${maxActivePerDaemon} devices`);
    if (this.devices.size >= this.limits.maxDevices) throw new StoreFullError(`store holds ${this.limits.maxDevices} devices`);
    this.devices.set(record.deviceId, { ...record });
  }

  async getDevice(deviceId: string): Promise<DeviceRecord | undefined> {
    const record = this.devices.get(deviceId);
    return record && { ...record };
  }

  async listDevices(daemonId: string): Promise<DeviceRecord[]> {
    return [...this.devices.values()]
      .filter((d) => d.daemonId === daemonId)
      .sort((a, b) => a.createdAt - b.createdAt)
      .map((d) => ({ ...d }));
  }

  async touchDevice(deviceId: string, now: number): Promise<void> {
    const record = this.devices.get(deviceId);
    if (record) record.lastSeenAt = now;
  }

  async revokeDevice(deviceId: string, daemonId: string, now: number): Promise<boolean> {
    const record = this.devices.get(deviceId);
    if (!record || record.daemonId !== daemonId) return false;
    record.revokedAt ??= now;
    this.events.emit({ type: 'device_revoked', deviceId, daemonId });
    return true;
  }

  async insertChallenge(record: ChallengeRecord, maxPerDevice: number): Promise<void> {
    if (this.challenges.has(record.challenge)) throw new DuplicateRecordError('challenge exists');
    const mine = [...this.challenges.values()].filter((c) => c.deviceId === record.deviceId);
    for (const old of mine.slice(0, Math.max(0, mine.length - maxPerDevice + 1))) this.challenges.delete(old.challenge);
    if (this.challenges.size >= this.limits.maxChallenges) throw new StoreFullError(`store holds ${this.limits.maxChallenges} challenges`);
    this.challenges.set(record.challenge, { ...record });
  }

  async consumeChallenge(challenge: string): Promise<ChallengeRecord | undefined> {
    const record = this.challenges.get(challenge);
    this.challenges.delete(challenge);
    return record && { ...record };
  }

  async purgeExpired(now: number): Promise<void> {
    for (const [key, c] of this.challenges) if (c.expiresAt <= now) this.challenges.delete(key);
    for (const [key, c] of this.codes) if (c.record.expiresAt + QUICK_CONNECT_RETENTION_MS <= now) this.codes.delete(key);
    for (const [key, d] of this.devices) {
      if (d.revokedAt !== undefined && d.revokedAt + REVOKED_DEVICE_RETENTION_MS <= now) this.devices.delete(key);
    }
    this.signingKeys = this.signingKeys.filter((k) => k.retiresAt === undefined || k.retiresAt > now);
  }

  subscribe(listener: (event: ControlPlaneEvent) => void): () => void {
    return this.events.subscribe(listener);
  }

  async close(): Promise<void> {
    this.events.clear();
  }
}
