import { toBase64Url } from '../../protocol/bytes.js';
import { ControlPlaneClient } from '../../node/control-plane-client.js';
import { generateIdentity } from '../../daemon/identity.js';
import { connect, type SidebandClient } from '../../client/connect.js';
import { MemoryPinStore } from '../../client/pin-store.js';
import { controlPlaneTokens } from '../../client/session-token-source.js';
import type { ChildHandle } from './child-ipc.js';
import { FAST_RECONNECT } from './relay-fixture.js';

/**
 * Starts the relay and the daemon in their child processes (relay-process.ts, listen-process.ts
 * over child-ipc), registers the daemon, and connects a Node client in this process: the
 * topology of the memory and soak tests, where each process's heap is measured on its own.
 */
export async function startChildStack(relay: ChildHandle, daemon: ChildHandle, relayOptions: Record<string, unknown> = {}): Promise<SidebandClient> {
  const started = await relay.call<{ url: string; adminKey: string }>('start', relayOptions);
  const identity = generateIdentity();
  const { daemonId, apiKey } = await new ControlPlaneClient({ baseUrl: started.url }).registerDaemon(started.adminKey, { identityPublicKey: toBase64Url(identity.publicKey) });
  await daemon.call('start', { relay: started.url, apiKey, seed: toBase64Url(identity.seed) });
  const client = connect({
    relay: started.url,
    daemonId,
    getToken: controlPlaneTokens({ baseUrl: started.url, bearer: apiKey, daemonId }),
    pinStore: new MemoryPinStore(),
    reconnect: FAST_RECONNECT,
  });
  await client.ready();
  return client;
}
