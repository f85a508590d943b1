import type { OwnerRef } from './cluster-admission.js';

/** What the owner said to a session announced before a client's upgrade. */
export type AnnounceAnswer =
  | { kind: 'ok' }
  /** The owner refused it (its daemon is at the session limit). */
  | { kind: 'refused' }
  /** The daemon left the owner: it is offline. */
  | { kind: 'gone' }
  /** Another node owns the daemon now: announce there. */
  | { kind: 'moved'; owner: OwnerRef }
  /** No answer in time (or no room to wait): the owner is taken for dead, the daemon for offline. */
  | { kind: 'timeout' };

interface Waiter {
  did: string;
  resolve: (answer: AnnounceAnswer) => void;
  timer: NodeJS.Timeout;
}

/**
 * Upgrades of clients waiting for the daemon's owner to confirm it knows their session
 * (sessionOpen → sessionOpened). The client gets its socket only after that, so the owner can
 * route the daemon's very first frame for the session, whatever travels faster. Bounded: past
 * `max` waiting upgrades a new one is answered `timeout` at once.
 */
export class SessionAnnouncements {
  private readonly timeoutMs: number;
  private readonly max: number;
  private readonly waiting = new Map<bigint, Waiter>();

  constructor(timeoutMs: number, max: number) {
    this.timeoutMs = timeoutMs;
    this.max = max;
  }

  get size(): number {
    return this.waiting.size;
  }

  wait(did: string, sid: bigint): Promise<AnnounceAnswer> {
    if (this.waiting.size >= this.max || this.waiting.has(sid)) return Promise.resolve({ kind: 'timeout' });
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.answer(did, sid, { kind: 'timeout' }), this.timeoutMs);
      this.waiting.set(sid, { did, resolve, timer });
    });
  }

  /** Settles the upgrade waiting for (`did`, `sid`); false when none was. */
  answer(did: string, sid: bigint, answer: AnnounceAnswer): boolean {
    const waiter = this.waiting.get(sid);
    if (!waiter || waiter.did !== did) return false;
    this.waiting.delete(sid);
    clearTimeout(waiter.timer);
    waiter.resolve(answer);
    return true;
  }

  /** Settles every upgrade waiting on `did` (its daemon left or moved). */
  answerDaemon(did: string, answer: AnnounceAnswer): void {
    for (const [sid, waiter] of this.waiting) if (waiter.did === did) this.answer(did, sid, answer);
  }

  /** Settles everything with `timeout` (shutdown). Idempotent. */
  close(): void {
    for (const [sid, waiter] of this.waiting) this.answer(waiter.did, sid, { kind: 'timeout' });
  }
}
