import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/** Sockets corked in this turn of the event loop; one `process.nextTick` uncorks them all. */
const corked = new Set<Socket>();

function uncorkAll(): void {
  // A socket corked while this runs is added to the set and still visited.
  for (const socket of corked) socket.uncork();
  corked.clear();
}

/**
 * The TCP socket under a `ws` WebSocket, client or server side. ws keeps it as `_socket`: not
 * public API, but unchanged since ws 1.x, and cork-for-turn.test.ts fails if an upgrade of ws
 * moves it, so the batching cannot silently stop.
 */
export function tcpSocketOf(ws: WebSocket): Socket | undefined {
  return (ws as unknown as { _socket?: Socket | null })._socket ?? undefined;
}

/**
 * Holds a WebSocket's writes until the end of this turn of the event loop (this burst of
 * callbacks and microtasks), so every message sent on it in the turn leaves in one system
 * call. Call it before each `send`; the first call in a turn corks, later ones cost a lookup.
 * Still one frame per WebSocket message (sbrp.md §1); only the socket writes are batched.
 *
 * On loopback a write costs about as much as the kernel's whole delivery to the peer, so one
 * write per turn instead of one per message is most of a forwarder's or endpoint's send cost
 * (issue 9 profiles: writes at 12–18% of endpoint CPU, 7–10% of the relay's). Nothing waits
 * past the turn, so latency is unchanged. The set is module-wide, not per socket, so an idle
 * connection carries no state for it (relay memory per idle session); it holds at most the
 * sockets written in one turn and is emptied at the end of every turn.
 *
 *   corkForTurn(ws);
 *   ws.send(frame); // written when this turn ends, with every other frame of the turn
 */
export function corkForTurn(ws: WebSocket): void {
  const socket = tcpSocketOf(ws);
  if (socket === undefined || corked.has(socket)) return;
  if (corked.size === 0) process.nextTick(uncorkAll);
  corked.add(socket);
  socket.cork();
}
