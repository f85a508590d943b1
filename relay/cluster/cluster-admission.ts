import type { Redis } from 'ioredis';
import type { VerifiedToken } from '../token-verifier.js';
import type { Admission } from './backplane.js';
import { EPOCH_TTL_MS, RedisKeys } from './redis-keys.js';
import type { BackplaneScripts } from './redis-scripts.js';
import type { AnnounceAnswer } from './session-announcements.js';

export interface OwnerRef {
  node: string;
  epoch: bigint;
}

export interface ClientAdmission extends Admission {
  /** The daemon's live owner, when it has one. */
  readonly owner?: OwnerRef;
  /** The session is in the daemon's registry (to be removed if the upgrade does not happen). */
  readonly registered?: boolean;
}

export interface DaemonAdmission extends Admission {
  readonly epoch?: bigint;
  /** The lease value before this one (`<node>:<epoch>`), '' when there was none. */
  readonly previous?: string;
  /** The daemon's registered client sessions: [sid, edge node]. */
  readonly sessions?: ReadonlyArray<[bigint, string]>;
}

export interface ClusterAdmissionOptions {
  node: string;
  command: Redis;
  scripts: BackplaneScripts;
  leaseTtlMs: number;
  maxSessionsPerDaemon: number;
  /** Tells an owner node of a session about to open and waits for its answer (before the client has its socket). */
  announce: (owner: OwnerRef, did: string, sid: bigint) => Promise<AnnounceAnswer>;
}

/**
 * The cluster-wide checks of an upgrade (sbrp.md §5, scale-out.md §2): a client's sid is
 * reserved once for the whole cluster (409), its daemon's session count is checked and the
 * session registered (429), its daemon's owner is looked up; a daemon takes its lease (the
 * newest connection wins, the epoch goes up) and learns the sessions waiting for it.
 */
export class ClusterAdmission {
  private readonly o: ClusterAdmissionOptions;

  constructor(options: ClusterAdmissionOptions) {
    this.o = options;
  }

  async client(token: VerifiedToken): Promise<ClientAdmission> {
    const { command, node } = this.o;
    const sid = token.sid!;
    const ttlMs = Math.max(1000, (token.exp + 30) * 1000 - Date.now());
    const [revoked, reserved] = (await command.pipeline().exists(RedisKeys.revoked(token.sub)).set(RedisKeys.sid(sid), node, 'PX', ttlMs, 'NX').exec())!;
    if (revoked![0] || reserved![0]) throw revoked![0] ?? reserved![0];
    if (revoked![1] === 1) return { refusal: 'forbidden' };
    if (reserved![1] !== 'OK') return { refusal: 'sid_in_use' };
    // Registered before the owner is read: a takeover after this point finds the session in
    // the registry and tells this node; one before it is what the read below returns.
    const registered = await this.o.scripts.run('sbRegisterSession', RedisKeys.sessions(token.did), sid.toString(10), node,
      this.o.leaseTtlMs, this.o.maxSessionsPerDaemon);
    if (registered === 0) return { refusal: 'too_many_sessions' };
    if (registered === -1) return { refusal: 'sid_in_use' };
    try {
      const owner = await this.confirmedOwner(token.did, sid);
      return { registered: true, ...(owner && { owner }) };
    } catch (error) {
      await command.hdel(RedisKeys.sessions(token.did), sid.toString(10)).catch(() => {});
      if (error instanceof RefusedByOwner) return { refusal: 'too_many_sessions' };
      throw error;
    }
  }

  /**
   * The owner, once it confirmed it knows the session: announced before the client even has
   * its socket, so the owner can route the daemon's first frame for it, which may well travel
   * faster than Redis (a daemon may signal a session it has not heard from yet). Follows one move.
   */
  private async confirmedOwner(did: string, sid: bigint): Promise<OwnerRef | undefined> {
    let owner = await this.owner(did);
    for (let attempt = 0; owner && owner.node !== this.o.node; attempt++) {
      const answer = await this.o.announce(owner, did, sid);
      if (answer.kind === 'ok') return owner;
      // No answer within dead-after: the owner node is as good as dead, so is the daemon's socket.
      if (answer.kind === 'gone' || answer.kind === 'timeout') return undefined;
      if (answer.kind === 'refused') throw new RefusedByOwner();
      if (attempt > 0) throw new Error('the daemon moved twice while a client was being admitted');
      owner = answer.owner;
    }
    return owner;
  }

  async daemon(token: VerifiedToken): Promise<DaemonAdmission> {
    const did = token.did;
    const reply = (await this.o.scripts.run('sbAcquire', RedisKeys.owner(did), RedisKeys.epoch(did), RedisKeys.sessions(did),
      this.o.node, this.o.leaseTtlMs, EPOCH_TTL_MS)) as [number, string, ...string[]];
    const [epoch, previous, ...flat] = reply;
    const sessions: [bigint, string][] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) sessions.push([BigInt(flat[i]!), flat[i + 1]!]);
    return { epoch: BigInt(epoch), previous, sessions };
  }

  /** The live owner of `did` per its lease, or undefined when none (or its node is dead). */
  async owner(did: string): Promise<OwnerRef | undefined> {
    const { command } = this.o;
    const value = await command.get(RedisKeys.owner(did));
    const owner = value === null ? undefined : parseLease(value);
    if (!owner) return undefined;
    if (owner.node !== this.o.node && (await command.exists(RedisKeys.node(owner.node))) === 0) return undefined;
    return owner;
  }
}

class RefusedByOwner extends Error {}

/** `<node>:<epoch>` → parts, or undefined for anything else. */
export function parseLease(value: string): { node: string; epoch: bigint } | undefined {
  const at = value.lastIndexOf(':');
  if (at <= 0 || !/^\d{1,19}$/.test(value.slice(at + 1))) return undefined;
  return { node: value.slice(0, at), epoch: BigInt(value.slice(at + 1)) };
}
