/**
 * Subscriber health of one node (scale-out.md §5). A dropped connection is seen at once
 * (`lost`); a connection that stays up but hears nothing (a deaf subscriber) is caught by a
 * probe the node publishes to its own inbox after `intervalMs` of silence: no echo (nor any
 * other message) within `max(intervalMs, ECHO_FLOOR_MS)` and the subscriber is deaf. Either way
 * the node is unhealthy until a message comes in, since only that proves the (re)subscription
 * works.
 *
 * The deadline is judged in a timer, which after an event-loop stall can run before the loop has
 * read the echo already waiting in the socket; declaring deaf then would end every cross-node
 * session for nothing. So the deadline runs from when Redis took the probe (`sent`), and an
 * expired one is judged again after `setImmediate`, i.e. after the loop's poll phase has read
 * pending input: only a probe still unanswered then counts.
 */
/**
 * The shortest wait for an echo: a loaded machine may take a moment to run the loop, and a false
 * alarm ends every cross-node session, while a real deaf subscriber is rare enough that two
 * seconds to notice it costs little.
 */
export const ECHO_FLOOR_MS = 2000;

export class InboxProbe {
  private readonly intervalMs: number;
  private readonly publishProbe: () => boolean;
  private readonly onDeaf: () => void;
  private subscribed = true;
  private deaf = false;
  private lastHeardAt = Date.now();
  private sentAt: number | undefined;
  private judging: ReturnType<typeof setImmediate> | undefined;

  /** `publishProbe` returns false when it could not be sent; `onDeaf` runs once per deaf spell. */
  constructor(intervalMs: number, publishProbe: () => boolean, onDeaf: () => void) {
    this.intervalMs = intervalMs;
    this.publishProbe = publishProbe;
    this.onDeaf = onDeaf;
  }

  get healthy(): boolean {
    return this.subscribed && !this.deaf;
  }

  /** Any inbox message (the own probe included): the subscription works. */
  heard(): void {
    this.lastHeardAt = Date.now();
    this.sentAt = undefined;
    this.deaf = false;
    this.subscribed = true;
  }

  /** The subscriber connection closed; returns false when it was already known to be down. */
  lost(): boolean {
    if (!this.subscribed) return false;
    this.subscribed = false;
    return true;
  }

  /** Redis took the probe's publish: its echo is on the way from now, so the deadline starts here. */
  sent(): void {
    if (this.sentAt !== undefined) this.sentAt = Date.now();
  }

  /** The probe's publish failed: that says nothing about the subscriber; probe again later. */
  unsent(): void {
    this.sentAt = undefined;
  }

  /** Drops a pending judgement; call on close (idempotent). */
  close(): void {
    if (this.judging !== undefined) clearImmediate(this.judging);
    this.judging = undefined;
  }

  /** Run every `intervalMs / 2`. `subscriberReady`: the connection is up (probing a closed one is pointless). */
  tick(subscriberReady: boolean): void {
    const now = Date.now();
    if (this.sentAt !== undefined) {
      if (!this.expired(now) || this.judging !== undefined) return;
      this.judging = setImmediate(() => {
        this.judging = undefined;
        if (!this.expired(Date.now())) return; // answered while the loop read its input
        this.sentAt = undefined;
        if (!this.deaf) {
          this.deaf = true;
          this.onDeaf();
        }
      });
      return;
    }
    if (now - this.lastHeardAt < this.intervalMs && this.healthy) return;
    if (!subscriberReady) return;
    if (this.publishProbe()) this.sentAt = now;
  }

  private expired(now: number): boolean {
    return this.sentAt !== undefined && now - this.sentAt > Math.max(this.intervalMs, ECHO_FLOOR_MS);
  }
}
