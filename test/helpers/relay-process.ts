// Forked by load tests: a real relay in its own process, so its memory can be measured alone.
import { startRelay, type RelayServer } from '../../relay/index.js';
import { serveParent, settledMemory } from './child-ipc.js';
import { MemoryPeak } from './memory-peak.js';

const peak = new MemoryPeak();

let relay: RelayServer | undefined;

serveParent(
  {
    async start(payload) {
      relay = await startRelay({ port: 0, ...(payload as object) });
      return { url: relay.url, wsUrl: relay.wsUrl, adminKey: relay.adminKey };
    },
    memory: () => settledMemory(),
    peakStart: () => peak.start(),
    peakStop: () => peak.stop(),
  },
  async () => {
    await relay?.close();
  },
);
