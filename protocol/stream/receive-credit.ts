/**
 * Adaptive receive credit (docs/protocol.md §5 *Growing and shrinking a window*).
 *
 * A small announced window keeps a download from holding other streams up for long: every
 * byte the peer may have in flight sits in a FIFO (relay, sockets, the browser's WebSocket)
 * in front of the next stream's response. But a lone download with a small window waits for
 * credit round trips. So the receiver announces the small window and, while one stream is the
 * only one the peer is sending on, grants that stream extra credit, a quarter window per grant,
 * up to `maxStreamWindow`. It starts growing only after the stream read a whole window while
 * alone, so the short gaps between one small request and the next do not let it grow. The session window grows by the same extra so it never caps the
 * stream. As soon as a second stream is busy, the extra is taken back: credit for consumed
 * bytes is withheld until the window is back at its announced size. The protocol lets a
 * receiver grant any amount at any time (§5), so a peer needs nothing new.
 */
export interface ReceiveCreditPolicy {
  /**
   * Largest window one stream may grow to while it is the only busy stream (bytes; at least
   * the announced `streamWindow`, which is what it falls back to when others are busy).
   */
  maxStreamWindow: number;
}

/** Extra credit to add to a lone stream's grant: a quarter window at a time, up to the maximum. */
export function growthStep(streamWindow: number, extra: number, policy: ReceiveCreditPolicy | undefined): number {
  if (!policy) return 0;
  const room = Math.max(0, policy.maxStreamWindow - streamWindow - extra);
  return Math.min(Math.floor(streamWindow / 4), room);
}
