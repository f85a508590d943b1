import type { SessionRouter } from '../session-router.js';
import type { Admission, Backplane } from './backplane.js';

const ADMITTED: Admission = Object.freeze({});

/**
 * The single-process backplane (the default): no Redis is loaded, the router alone knows every
 * daemon and session, frames go socket to socket.
 */
export class MemoryBackplane implements Backplane {
  readonly kind = 'memory';
  readonly routerHooks = undefined;
  private router: SessionRouter | undefined;
  private readonly onRevoked: (sub: string) => void;

  /** `onRevoked` runs for each `revoke` (the node closes that principal's sessions). */
  constructor(onRevoked: (sub: string) => void) {
    this.onRevoked = onRevoked;
  }

  async start(router: SessionRouter): Promise<void> {
    this.router = router;
  }

  async admit(): Promise<Admission> {
    return ADMITTED;
  }

  abandon(): void {}
  accepting(): void {}
  accepted(): void {}
  connectionClosed(): void {}

  isOnline(did: string): boolean {
    return this.router?.isOnline(did) ?? false;
  }

  revoke(sub: string): void {
    this.onRevoked(sub);
  }

  healthy(): boolean {
    return true;
  }

  async close(): Promise<void> {}
}

