import { sidebandClient, type ConnectOptions, type SidebandClient } from '../web/sideband-client.js';
import { FULL_FRAME_LIMITS } from '../protocol/stream/stream-codes.js';
import { NODE_RECEIVE_CREDIT } from '../protocol/stream/receive-credit.js';
import { connectClient } from './connect-client.js';

export { CONNECT_DEFAULTS, type ConnectEvents, type ConnectOptions, type SidebandClient, type SidebandFetch } from '../web/sideband-client.js';

/**
 * A Node client of one daemon: HTTP and channels over the end-to-end encrypted session
 * (web/sideband-client.ts), on the shared connection loop with a `ws` socket (connect-client.ts).
 *
 *   const client = connect({ relay, daemonId, getToken, pinStore: new FilePinStore(pins) });
 *   const res = await client.fetch('/api/hello');
 *   const api = hc<typeof app>('http://daemon', { fetch: client.fetch });
 */
export function connect(options: ConnectOptions): SidebandClient {
  // Whole-frame body pieces: this client seals with OpenSSL (FULL_FRAME_LIMITS says why); a
  // lone download's window grows to 4 MiB (NODE_RECEIVE_CREDIT says why).
  return sidebandClient(connectClient(options), { defer: setImmediate, receiveCredit: NODE_RECEIVE_CREDIT, ...options, limits: { ...FULL_FRAME_LIMITS, ...options.limits } });
}
