// Forked by load tests: an echo daemon in its own process, so its memory can be measured alone.
import { fromBase64Url } from '../../protocol/bytes.js';
import { connectDaemon } from '../../daemon/connect-daemon.js';
import type { DaemonConnection } from '../../daemon/daemon-types.js';
import { identityFromSeed } from '../../daemon/identity.js';
import { serveParent, settledMemory } from './child-ipc.js';

let daemon: DaemonConnection | undefined;
let opened = 0;
let closed = 0;

serveParent(
  {
    async start(payload) {
      const { relay, apiKey, seed } = payload as { relay: string; apiKey: string; seed: string };
      const d = connectDaemon({ relay, apiKey, identity: identityFromSeed(fromBase64Url(seed)), onMessage: (sid, data) => d.send(sid, data) });
      daemon = d;
      d.on('session_open', () => opened++);
      d.on('session_closed', () => closed++);
      await d.ready();
      return { daemonId: d.daemonId };
    },
    stats: () => ({ sessions: daemon?.status.sessions ?? 0, opened, closed, state: daemon?.state }),
    memory: () => settledMemory(),
  },
  async () => {
    await daemon?.close();
  },
);
