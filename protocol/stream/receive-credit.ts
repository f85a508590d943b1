/**
 * Adaptive receive credit (docs/protocol.md §5 *Growing and shrinking a window*).
 *
 * A small window keeps a download from holding other streams up for long: every byte the peer
 * may have in flight sits in a FIFO (relay, sockets, the browser's WebSocket) in front of the
 * next stream's response. But a lone download with a small window waits for credit round
 * trips. So the receiver announces a moderate window and, while one stream is the only one the
 * peer is sending on, grants that stream extra credit, a quarter of its current window per
 * grant, up to `maxStreamWindow`. It starts growing only after the stream read a whole window
 * while alone, so the short gaps between one small request and the next do not let it grow.
 * The session window grows by the same extra so it never caps the stream. As soon as a second
 * stream is busy, the extra is taken back: credit for consumed bytes is withheld until the
 * window is back at its announced size; with `sharedStreamWindow`, an HTTP body's window is
 * held smaller still while shared, and with `quietBytes` "shared" lasts a while after the other
 * stream was last active, so a page's back-to-back small requests never see the window open up
 * between two of them. The protocol lets a receiver grant any amount at any time (§5), so a
 * peer needs nothing new.
 */
export interface ReceiveCreditPolicy {
  /**
   * Largest window one stream may grow to while it is the only busy stream (bytes; at least
   * the announced `streamWindow`, which is what it falls back to when others are busy).
   */
  maxStreamWindow: number;
  /**
   * While another stream is busy, an HTTP body stream's credit in the peer's hands is held to
   * this (bytes, below the announced `streamWindow`); what it read beyond is granted once it is
   * alone again. Not for channels: a message is credited only once read whole, so a channel
   * keeps its announced window. Default: the announced window.
   */
  sharedStreamWindow?: number;
  /**
   * How long, counted in body bytes read on the session, a stream stays busy after it opened
   * or last read, and windows stay shared after the last other busy stream. Counted in bytes,
   * not time, so a slow machine does not change it. Default: busy until the peer ends its
   * side, alone at once after.
   */
  quietBytes?: number;
}

/**
 * Receive-window growth for the Node endpoints (Mux `receiveCredit`, receive-credit.ts): a lone
 * busy stream's window grows from the announced 1 MiB to 4 MiB. Three processes (client,
 * relay, daemon) share 2 cores here, so one frame took ~4 ms client → daemon and its CREDIT
 * ~2 ms back: with a fixed 1 MiB window the sender waited for credit over half of a 200 MB
 * transfer (issue 9 frame trace). The window shrinks back as soon as a second stream is busy.
 */
export const NODE_RECEIVE_CREDIT: Readonly<ReceiveCreditPolicy> = Object.freeze({ maxStreamWindow: 4 * 1024 * 1024 });

/**
 * Extra credit to add to a lone stream's grant: a quarter of its current window (announced plus
 * extra) at a time, up to the maximum. Grants come every quarter of the current window
 * (Mux `grantThreshold`), so the window grows by a quarter per quarter read, and reaching 4×
 * the announced window takes about three announced windows of reading, as with fixed steps.
 */
export function growthStep(streamWindow: number, extra: number, policy: ReceiveCreditPolicy | undefined): number {
  if (!policy) return 0;
  const room = Math.max(0, policy.maxStreamWindow - streamWindow - extra);
  return Math.min(Math.floor((streamWindow + extra) / 4), room);
}

/**
 * The multiplexer's bookkeeping for `sharedStreamWindow` and `quietBytes`: the clock in bytes
 * read, when each stream was last active, and the credit held back from each shared stream.
 * Keyed weakly by stream, so a finished stream leaves nothing behind.
 */
export class ReceiveSharing {
  /** Body bytes read on the session: the clock `quietBytes` runs on. */
  private readTotal = 0;
  private sharedUntil = 0;
  private readonly lastActive = new WeakMap<object, number>();
  private readonly held = new WeakMap<object, number>();

  constructor(private readonly policy: ReceiveCreditPolicy) {
    // A shared window too small to top up by a quarter would leave the peer without credit for ever.
    const shared = policy.sharedStreamWindow;
    if (shared !== undefined && !(Number.isSafeInteger(shared) && shared >= 1024)) throw new RangeError(`receiveCredit.sharedStreamWindow must be an integer of at least 1024 bytes, got ${shared}`);
    const quiet = policy.quietBytes;
    if (quiet !== undefined && !(Number.isSafeInteger(quiet) && quiet >= 0)) throw new RangeError(`receiveCredit.quietBytes must be a non-negative integer, got ${quiet}`);
  }

  /** `stream`'s reader consumed `bytes`. */
  read(stream: object, bytes: number): void {
    this.readTotal += bytes;
    this.lastActive.set(stream, this.readTotal);
  }

  /** Whether an open stream counts as busy: it opened (first seen here) or read within `quietBytes`. */
  recentlyActive(stream: object): boolean {
    const quiet = this.policy.quietBytes;
    if (quiet === undefined) return true;
    let last = this.lastActive.get(stream);
    if (last === undefined) this.lastActive.set(stream, (last = this.readTotal));
    return this.readTotal - last <= quiet;
  }

  /** Whether windows are shared now: another stream is busy, or was within `quietBytes`. */
  shared(othersBusy: boolean): boolean {
    if (othersBusy) this.sharedUntil = this.readTotal + (this.policy.quietBytes ?? 0);
    return othersBusy || this.readTotal < this.sharedUntil;
  }

  /** Whether a shared `kind` stream's window is held below the announced one. */
  holds(kind: 'http' | 'channel'): boolean {
    return kind === 'http' && this.policy.sharedStreamWindow !== undefined;
  }

  /**
   * Credit to grant a shared HTTP stream for `unacked` consumed bytes while the peer still
   * holds `available`: enough to bring that back up to `sharedStreamWindow`, once that is at
   * least a quarter of it (so the peer always has credit left and never waits for ever); the
   * rest is held for `release`.
   */
  sharedGrant(stream: object, unacked: number, available: number): number {
    const window = this.policy.sharedStreamWindow!;
    const owed = (this.held.get(stream) ?? 0) + unacked;
    const grant = Math.max(0, Math.min(owed, window - available));
    if (grant < window / 4) {
      this.held.set(stream, owed);
      return 0;
    }
    this.held.set(stream, owed - grant);
    return grant;
  }

  /** Credit held back from `stream` while shared, due now that it is alone (0 if none). */
  release(stream: object): number {
    const owed = this.held.get(stream) ?? 0;
    if (owed) this.held.delete(stream);
    return owed;
  }
}
