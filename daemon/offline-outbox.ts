import { copyPlaintext, plaintextLength, type Plaintext } from '../protocol/aead.js';
import { SbrpError } from '../protocol/errors.js';

/**
 * What the daemon owes its sessions while the relay is unreachable. Sealing a message now would
 * spend a sequence number on a frame that cannot arrive, and the client would see a gap
 * (sbrp.md §2), so plaintexts wait here, bounded per session, and are sealed after the resumed
 * reconnect; so do the Signal(close) of sessions closed meanwhile.
 */
export class OfflineOutbox {
  private readonly held = new Map<bigint, { messages: Uint8Array[]; bytes: number }>();
  private readonly closes = new Map<bigint, number>();

  constructor(private readonly limits: { maxMessages: number; maxBytes: number }) {}

  /** Holds a copy of `data` (joined if in parts); throws SbrpError `backpressure` over the per-session bound. */
  hold(sessionId: bigint, data: Plaintext): void {
    const length = plaintextLength(data);
    let entry = this.held.get(sessionId);
    if (!entry) this.held.set(sessionId, (entry = { messages: [], bytes: 0 }));
    if (entry.messages.length >= this.limits.maxMessages || entry.bytes + length > this.limits.maxBytes) {
      throw new SbrpError('backpressure', `relay unreachable and ${entry.messages.length} messages already held`, sessionId);
    }
    entry.messages.push(copyPlaintext(data));
    entry.bytes += length;
  }

  /** Remembers a Signal(close, reason) to send once connected again. */
  closedOffline(sessionId: bigint, reason: number): void {
    this.closes.set(sessionId, reason);
  }

  /** Drops what is held for a session that ended. */
  forget(sessionId: bigint): void {
    this.held.delete(sessionId);
  }

  /** Empties the outbox, returning the pending closes and the held messages per session, in order. */
  drain(): { closes: [bigint, number][]; messages: [bigint, Uint8Array[]][] } {
    const closes = [...this.closes];
    const messages = [...this.held].map(([sessionId, entry]): [bigint, Uint8Array[]] => [sessionId, entry.messages]);
    this.closes.clear();
    this.held.clear();
    return { closes, messages };
  }

  clear(): void {
    this.closes.clear();
    this.held.clear();
  }
}
