import { pingFrame } from '../protocol/frames.js';

export interface HeartbeatOptions {
  /** Time between Pings (sbrp.md §4: clients 25 s, daemons 45 s). */
  intervalMs: number;
  /** A Ping unanswered for this long calls `onDead`. */
  timeoutMs: number;
  send: (frame: Uint8Array) => void;
  onDead: () => void;
}

/**
 * SBRP-level liveness: a Ping frame (8-byte timestamp payload) every `intervalMs`; the relay
 * answers each with a Pong. TCP can keep a dead path "open" for minutes, so a silent relay is
 * detected here, not by the socket.
 */
export class Heartbeat {
  private interval?: ReturnType<typeof setInterval>;
  private deadline?: ReturnType<typeof setTimeout>;
  private lastRttMs?: number;
  private sentAt = 0;

  constructor(private readonly options: HeartbeatOptions) {}

  get rttMs(): number | undefined {
    return this.lastRttMs;
  }

  start(): void {
    this.stop();
    this.interval = setInterval(() => this.ping(), this.options.intervalMs);
  }

  /** Call for every Pong received. */
  pong(): void {
    if (this.deadline === undefined) return;
    clearTimeout(this.deadline);
    this.deadline = undefined;
    this.lastRttMs = Date.now() - this.sentAt;
  }

  stop(): void {
    clearInterval(this.interval);
    clearTimeout(this.deadline);
    this.interval = undefined;
    this.deadline = undefined;
  }

  private ping(): void {
    if (this.deadline !== undefined) return; // the previous Ping is still within its deadline
    this.sentAt = Date.now();
    const payload = new Uint8Array(8);
    new DataView(payload.buffer).setBigUint64(0, BigInt(this.sentAt), false);
    this.deadline = setTimeout(() => {
      this.deadline = undefined;
      this.options.onDead();
    }, this.options.timeoutMs);
    this.options.send(pingFrame(payload));
  }
}
