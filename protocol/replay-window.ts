/**
 * Sliding bitmap replay window over 64-bit sequence numbers (sbrp.md §2): remembers the
 * highest accepted sequence and which of the `size` sequences below it were seen. A jump
 * past the window resets the bitmap in O(1). `check` never mutates: the caller calls
 * `accept` only after the frame authenticated (sbrp.md §2 Decision).
 */
export type ReplayVerdict = 'fresh' | 'duplicate' | 'too_old';

export class ReplayWindow {
  readonly size: bigint;
  private highest = -1n;
  /** Bit i set ⇔ sequence (highest − i) was accepted. */
  private bitmap = 0n;
  private readonly mask: bigint;

  constructor(size = 128) {
    if (!Number.isInteger(size) || size < 128) throw new RangeError('replay window must hold at least 128 sequences');
    this.size = BigInt(size);
    this.mask = (1n << this.size) - 1n;
  }

  get highestAccepted(): bigint {
    return this.highest;
  }

  check(seq: bigint): ReplayVerdict {
    if (seq > this.highest) return 'fresh';
    const offset = this.highest - seq;
    if (offset >= this.size) return 'too_old';
    return (this.bitmap >> offset) & 1n ? 'duplicate' : 'fresh';
  }

  accept(seq: bigint): void {
    if (seq > this.highest) {
      const shift = seq - this.highest;
      // O(1) reset on a large jump instead of shifting bit by bit (sbrp.md §2).
      this.bitmap = shift >= this.size ? 1n : ((this.bitmap << shift) | 1n) & this.mask;
      this.highest = seq;
      return;
    }
    const offset = this.highest - seq;
    if (offset < this.size) this.bitmap |= 1n << offset;
  }

  /** Snapshot for resume integrity checks. */
  snapshot(): { highest: bigint; bitmap: bigint } {
    return { highest: this.highest, bitmap: this.bitmap };
  }
}
