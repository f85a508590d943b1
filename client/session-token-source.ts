import type { GetToken } from '../web/session-token-source.js';
import { ControlPlaneClient, type ControlPlaneClientOptions } from '../node/control-plane-client.js';

/**
 * A `getToken` that asks the control plane for a session token with `bearer` (a daemon API
 * key or the admin key, until device enrollment exists). Each call yields a fresh `sid`.
 *
 *   const getToken = controlPlaneTokens({ baseUrl: relay, bearer: apiKey, daemonId });
 */
export function controlPlaneTokens(options: ControlPlaneClientOptions & { bearer: string; daemonId: string }): GetToken {
  const client = new ControlPlaneClient(options);
  return async (signal) => {
    const { token, sid } = await client.sessionToken(options.bearer, options.daemonId, signal);
    return { token, sid };
  };
}

export type { ClientToken, GetToken } from '../web/session-token-source.js';
