import { nodeAead } from '../node/aead-node.js';
import { nodeHandshakeCrypto } from '../node/handshake-node.js';
import { nodeRelaySocketOpener } from '../node/relay-socket.js';
import type { ConnectClientOptions, RelayClient } from '../web/client-types.js';
import { RelayClientLoop } from '../web/relay-client.js';

/**
 * The Node client of one daemon: the shared connection loop (web/relay-client.ts) over a `ws`
 * socket with the token as a bearer header, and OpenSSL's ChaCha20-Poly1305; the connection to
 * the relay is opened while the token is fetched (node/relay-preconnect.ts).
 *
 *   const client = connectClient({ relay, daemonId, getToken, pinStore: new FilePinStore(path) });
 *   client.onMessage((data) => console.log(new TextDecoder().decode(data)));
 *   await client.ready();
 *   client.send(new TextEncoder().encode('hello'));
 */
export function connectClient(options: ConnectClientOptions): RelayClient {
  const openSocket = nodeRelaySocketOpener({ timeoutMs: options.connectTimeoutMs });
  return new RelayClientLoop({ ...options, aead: options.aead ?? nodeAead, handshake: options.handshake ?? nodeHandshakeCrypto, openSocket, preconnect: openSocket.preconnect });
}
