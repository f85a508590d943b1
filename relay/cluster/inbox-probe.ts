/**
 * Subscriber health of one node (scale-out.md §5). A dropped connection is seen at once
 * (`lost`); a connection that stays up but hears nothing (a deaf subscriber) is caught by a
 * probe the node publishes to its own inbox after `intervalMs` of silence: no echo (nor any
 * other message) within `max(intervalMs, ECHO_FLOOR_MS)` and the subscriber is deaf. Either way
 * the node is unhealthy until a message comes in, since only that proves the (re)subscription
 * works.
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

  /** The probe's publish failed: that says nothing about the subscriber; probe again later. */
  unsent(): void {
    this.sentAt = undefined;
  }

  /** Run every `intervalMs / 2`. `subscriberReady`: the connection is up (probing a closed one is pointless). */
  tick(subscriberReady: boolean): void {
    const now = Date.now();
    if (this.sentAt !== undefined) {
      if (now - this.sentAt <= Math.max(this.intervalMs, ECHO_FLOOR_MS)) return;
      this.sentAt = undefined;
      if (!this.deaf) {
        this.deaf = true;
        this.onDeaf();
      }
      return;
    }
    if (now - this.lastHeardAt < this.intervalMs && this.healthy) return;
    if (!subscriberReady) return;
    if (this.publishProbe()) this.sentAt = now;
  }
}
