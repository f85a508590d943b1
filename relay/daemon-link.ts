import type { ControlName } from '../protocol/codes.js';
import type { ConnectionHandlers } from './relay-connection.js';
import type { VerifiedToken } from './token-verifier.js';

/**
 * What the session router needs of "the daemon" of a DaemonEntry: the daemon's own WebSocket on
 * this node (a RelayConnection) or, in a cluster, a link to the node that holds that socket
 * (cluster/remote-daemon.ts). An interface rather than a subclass so the local connection keeps
 * its one shape and the router's forwarding call stays monomorphic on a single node.
 */
export interface DaemonLink {
  readonly id: number;
  readonly token: VerifiedToken;
  /** True for a link to another node: the router drops such an entry once its last session ends. */
  readonly remote: boolean;
  /** Sends frame bytes towards the daemon; false when they could not be (the link is then gone or the session ended). */
  trySend(bytes: Uint8Array): boolean;
  sendControl(name: ControlName, sessionId?: bigint, text?: string): void;
  close(code?: number, reason?: string): void;
  attach(handlers: ConnectionHandlers): void;
}
