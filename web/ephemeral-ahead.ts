import { wipe } from '../protocol/bytes.js';
import type { EphemeralKeyPair } from '../protocol/handshake.js';

/** Node's setImmediate; web/ is typed without Node, and browsers have none. */
const node = globalThis as { setImmediate?: (run: () => void) => unknown; clearImmediate?: (handle: unknown) => void };

/** After the current turn of the event loop: Node's setImmediate, a zero timeout elsewhere. */
function soon(run: () => void): () => void {
  if (node.setImmediate && node.clearImmediate) {
    const handle = node.setImmediate(run);
    return () => node.clearImmediate!(handle);
  }
  const handle = setTimeout(run, 0);
  return () => clearTimeout(handle);
}

/**
 * One connection attempt's ephemeral key pair, made while the attempt waits for its token
 * instead of between the socket opening and HandshakeInit (issue 9: ~0.15 ms on node:crypto,
 * more on noble in a browser). Not made in the same turn: the token request is still being
 * written then, and would leave that much later. `take()` hands the key to the session (making
 * it then if the wait was shorter than one turn); `discard()` wipes a key nobody took.
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
      this.key = this.make();
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
