import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay, type RelayOptions, type RelayServer } from '../../relay/index.js';
import { toBase64Url } from '../../protocol/bytes.js';
import { ControlPlaneClient } from '../../node/control-plane-client.js';
import { generateIdentity, type DaemonIdentity } from '../../daemon/identity.js';
import { controlPlaneTokens } from '../../client/session-token-source.js';
import type { GetToken } from '../../client/session-token-source.js';

export const ADMIN_KEY = 'e2e-admin-key-0123456789abcdef';

/** Fast backoff for tests: real policy, short delays. */
export const FAST_RECONNECT = { minDelayMs: 20, maxDelayMs: 200, jitter: 'none' } as const;

export interface RegisteredTestDaemon {
  identity: DaemonIdentity;
  daemonId: string;
  apiKey: string;
}

export interface RelayFixture {
  relay: RelayServer;
  controlPlane: ControlPlaneClient;
  /** A fresh temp directory, removed by close(). */
  dir: string;
  registerDaemon(identity?: DaemonIdentity): Promise<RegisteredTestDaemon>;
  /** A getToken that counts its calls. */
  tokens(daemon: RegisteredTestDaemon): GetToken & { calls: number };
  close(): Promise<void>;
}

/** A real relay on port 0 plus helpers; every test file builds its own. */
export async function startRelayFixture(options: RelayOptions = {}): Promise<RelayFixture> {
  const relay = await startRelay({ port: 0, adminKey: ADMIN_KEY, graceMs: 5_000, ...options });
  const controlPlane = new ControlPlaneClient({ baseUrl: relay.url });
  const dir = await mkdtemp(join(tmpdir(), 'sideband-e2e-'));
  return {
    relay,
    controlPlane,
    dir,
    async registerDaemon(identity = generateIdentity()) {
      const { daemonId, apiKey } = await controlPlane.registerDaemon(ADMIN_KEY, { identityPublicKey: toBase64Url(identity.publicKey) });
      return { identity, daemonId, apiKey };
    },
    tokens(daemon) {
      const source = controlPlaneTokens({ baseUrl: relay.url, bearer: daemon.apiKey, daemonId: daemon.daemonId });
      const counted = Object.assign(
        async (signal: AbortSignal) => {
          counted.calls++;
          return source(signal);
        },
        { calls: 0 },
      );
      return counted;
    },
    async close() {
      await relay.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
