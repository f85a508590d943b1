import { createQuickConnect } from '../../daemon/quick-connect.js';
import { listen } from '../../daemon/listen.js';
import type { Listener, ListenOptions } from '../../daemon/listen-types.js';
import { FAST_RECONNECT, startRelayFixture, type RegisteredTestDaemon, type RelayFixture } from './relay-fixture.js';

export interface PairingDaemon {
  fx: RelayFixture;
  reg: RegisteredTestDaemon;
  server: Listener;
  /** A fresh Quick Connect code for the daemon. */
  code(): Promise<string>;
  close(): Promise<void>;
}

/** A relay with Quick Connect on and one registered daemon serving `fetch`, for pairing tests. */
export async function startPairingDaemon(fetch: ListenOptions['fetch']): Promise<PairingDaemon> {
  const fx = await startRelayFixture({ quickConnect: true });
  const reg = await fx.registerDaemon();
  const server = await listen({ relay: fx.relay.url, apiKey: reg.apiKey, identity: reg.identity, reconnect: FAST_RECONNECT, fetch });
  return {
    fx,
    reg,
    server,
    code: async () => (await createQuickConnect({ relay: fx.relay.url, apiKey: reg.apiKey })).code,
    async close() {
      await server.close();
      await fx.close();
    },
  };
}
