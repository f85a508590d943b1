import { listen } from '../../daemon/index.js';
import { app } from './daemon-app.js';

export async function startDaemon(relay: string, apiKey: string, identityPath: string) {
  const daemon = await listen({
    relay,                                 // e.g. http://127.0.0.1:8787
    apiKey,                                // from registration (daemon CLI --register, or POST /v1/daemons)
    identityPath,                          // Ed25519, created 0600 on first run
    fetch: app.fetch,                      // any (Request) => Response; request.signal aborts on cancel
    onChannel: { '/term': async (channel) => { for await (const m of channel) await channel.send(m); } },
  });
  daemon.publish('build', { ok: true });   // server push to every connected client, every tab
  return daemon;                           // daemon.shutdown(): GOAWAY, let open requests finish, close
}
