import { DuplicateRecordError, StoreFullError, type ControlPlaneStore, type DaemonRecord, type SigningKeyRecord } from './store.js';

export interface MemoryStoreOptions {
  /** Default 100 000 daemons. */
  maxDaemons?: number;
  /** Default 16 signing keys. */
  maxSigningKeys?: number;
}

/**
 * Process-local store: the default until the SQLite backend lands. Records are copied in and out
 * so callers cannot change stored state by mutating an object they hold.
 */
export class MemoryControlPlaneStore implements ControlPlaneStore {
  private readonly daemons = new Map<string, DaemonRecord>();
  private readonly signingKeys: SigningKeyRecord[] = [];
  private readonly maxDaemons: number;
  private readonly maxSigningKeys: number;

  constructor(options: MemoryStoreOptions = {}) {
    this.maxDaemons = options.maxDaemons ?? 100_000;
    this.maxSigningKeys = options.maxSigningKeys ?? 16;
  }

  async insertDaemon(record: DaemonRecord): Promise<void> {
    if (this.daemons.has(record.daemonId)) throw new DuplicateRecordError(`daemon ${record.daemonId} exists`);
    if (this.daemons.size >= this.maxDaemons) throw new StoreFullError(`store holds ${this.maxDaemons} daemons`);
    this.daemons.set(record.daemonId, { ...record });
  }

  async getDaemon(daemonId: string): Promise<DaemonRecord | undefined> {
    const record = this.daemons.get(daemonId);
    return record && { ...record };
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    return this.signingKeys.map((key) => structuredClone(key));
  }

  async insertSigningKey(record: SigningKeyRecord): Promise<void> {
    if (this.signingKeys.some((key) => key.kid === record.kid)) throw new DuplicateRecordError(`signing key ${record.kid} exists`);
    if (this.signingKeys.length >= this.maxSigningKeys) throw new StoreFullError(`store holds ${this.maxSigningKeys} signing keys`);
    this.signingKeys.push(structuredClone(record));
  }

  async close(): Promise<void> {}
}
