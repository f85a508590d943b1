import { wipe } from './bytes.js';
import type { EphemeralKeyPair } from './handshake.js';

/** The timer functions every runtime has; the protocol tsconfig declares no runtime (env.d.ts). */
const timers = globalThis as unknown as {
  setImmediate?: (run: () => void) => unknown;
  clearImmediate?: (handle: unknown) => void;
  setTimeout: (run: () => void, ms: number) => unknown;
  clearTimeout: (handle: unknown) => void;
};

/** After the current turn of the event loop: Node's setImmediate, a zero timeout elsewhere. */
function soon(run: () => void): () => void {
  if (timers.setImmediate && timers.clearImmediate) {
    const handle = timers.setImmediate(run);
    return () => timers.clearImmediate!(handle);
  }
  const handle = timers.setTimeout(run, 0);
  return () => timers.clearTimeout(handle);
}

/**
 * An ephemeral key pair made ahead, in idle time, instead of on the handshake's path (issue 9:
 * ~0.15 ms per X25519 key on node:crypto, more on noble in a browser). The client makes its
 * key while it waits for the session token; the daemon keeps the next session's key ready.
 * Not made in the same turn: what that turn still sends (the token request) would leave that
 * much later. `take()` hands the key over (making it then if it was not made yet);
 * `discard()` wipes a key nobody took. Each key serves one handshake.
 *
 *   const ahead = new EphemeralAhead(() => generateEphemeral(randomBytes, crypto));
 *   const token = await getToken();     // the key is made meanwhile
 *   new ClientSession({ ephemeral: ahead.take(), ... });
 */
export class EphemeralAhead {
  private key?: EphemeralKeyPair;
  private cancel?: () => void;

  constructor(private readonly make: () => EphemeralKeyPair) {
    this.cancel = soon(() => {
      this.cancel = undefined;
      try {
        this.key = this.make();
      } catch {
        // Not here, where nothing could catch it: take() makes the key again on the
        // handshake's path, where a failure ends that handshake.
      }
    });
  }

  /** The key pair, now yours (made now if it was not yet). Once only. */
  take(): EphemeralKeyPair {
    this.cancel?.();
    this.cancel = undefined;
    const key = this.key ?? this.make();
    this.key = undefined;
    return key;
  }

  /** Drops the key pair if nobody took it: its private key is wiped, a pending one not made. */
  discard(): void {
    this.cancel?.();
    this.cancel = undefined;
    wipe(this.key?.privateKey);
    this.key = undefined;
  }
}
