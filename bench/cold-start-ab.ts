/**
 * `npx tsx bench/cold-start-ab.ts OTHER_ROOT [samples]`: the bench's cold-start figure for two
 * checkouts at once, so a change is judged on one machine state (issue 9). Starts the stack of
 * bench/node.bench.ts twice, once from this checkout and once from OTHER_ROOT (say, a copy with
 * the change undone: relay, daemon and client code all from that tree), plus the bare `ws`
 * forwarder baseline, and alternates single samples A, B, ws, B, A, ws, … Prints the median of
 * each and each ratio against the ws baseline, as `cold-start.node.session` computes it.
 */
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { summarize } from './figure.js';
import { firstByteMs, wsFirstByteMs } from './first-byte.js';
import { forkChild } from '../test/helpers/child-ipc.js';

const [otherRoot, samplesText] = process.argv.slice(2);
if (!otherRoot) throw new Error('usage: cold-start-ab.ts OTHER_ROOT [samples]');
const samples = Number(samplesText ?? 60);
const RELAY_OPTIONS = { limits: { clientRate: { perSecond: 1e7, burst: 1e7 }, daemonRate: { perSecond: 1e7, burst: 1e7 } } };

interface Side {
  name: string;
  cold(): Promise<number>;
  stop(): Promise<void>;
}

/** The stack of one checkout: its relay and daemon children, its client code. */
async function side(name: string, root: string): Promise<Side> {
  const load = async <T>(path: string) => (await import(pathToFileURL(resolve(root, path)).href)) as T;
  const { ControlPlaneClient } = await load<typeof import('../node/control-plane-client.js')>('node/control-plane-client.ts');
  const { generateIdentity } = await load<typeof import('../daemon/identity.js')>('daemon/identity.ts');
  const { toBase64Url } = await load<typeof import('../protocol/bytes.js')>('protocol/bytes.ts');
  const { connect } = await load<typeof import('../client/connect.js')>('client/connect.ts');
  const { MemoryPinStore } = await load<typeof import('../client/pin-store.js')>('client/pin-store.ts');
  const { controlPlaneTokens } = await load<typeof import('../client/session-token-source.js')>('client/session-token-source.ts');
  const relay = forkChild(resolve(root, 'test/helpers/relay-process.ts'));
  const daemon = forkChild(resolve(root, 'bench/children/daemon-child.ts'));
  const started = await relay.call<{ url: string; adminKey: string }>('start', RELAY_OPTIONS);
  const identity = generateIdentity();
  const { daemonId, apiKey } = await new ControlPlaneClient({ baseUrl: started.url }).registerDaemon(started.adminKey, { identityPublicKey: toBase64Url(identity.publicKey) });
  await daemon.call('listen', { relay: started.url, apiKey, seed: toBase64Url(identity.seed) });
  const cold = () =>
    firstByteMs(() =>
      connect({
        relay: started.url,
        daemonId,
        getToken: controlPlaneTokens({ baseUrl: started.url, bearer: apiKey, daemonId }),
        pinStore: new MemoryPinStore(),
        reconnect: { minDelayMs: 20, maxDelayMs: 200, jitter: 'none' },
      }),
    );
  return { name, cold, stop: async () => (await daemon.stop(), await relay.stop()) };
}

const here = fileURLToPath(new URL('..', import.meta.url));
const a = await side('this checkout', here);
const b = await side(otherRoot, otherRoot);
const daemonWs = forkChild(resolve(here, 'bench/children/daemon-child.ts'));
const forwarder = forkChild(resolve(here, 'bench/children/forwarder-child.ts'));
const { url: daemonWsUrl } = await daemonWs.call<{ url: string }>('ws');
const { url: forwarderUrl } = await forwarder.call<{ url: string }>('start', { daemonUrl: daemonWsUrl });
const coldWs = () => wsFirstByteMs(forwarderUrl);

try {
  const runs = { a: [] as number[], b: [] as number[], ws: [] as number[] };
  for (let i = 0; i < 5; i++) await Promise.all([]).then(a.cold).then(b.cold).then(coldWs);
  for (let i = 0; i < samples; i++) {
    // Either order half the time: a sample right after the other side's teardown pays for it.
    if (i % 2 === 0) {
      runs.a.push(await a.cold());
      runs.b.push(await b.cold());
    } else {
      runs.b.push(await b.cold());
      runs.a.push(await a.cold());
    }
    runs.ws.push(await coldWs());
  }
  const median = (values: number[]) => summarize(values).median;
  console.log(`medians of ${samples} alternating samples, ms`);
  console.log(`  ws baseline ${median(runs.ws).toFixed(3)}`);
  for (const [label, values] of [[a.name, runs.a], [b.name, runs.b]] as const) {
    console.log(`  ${label}: ${median(values).toFixed(3)} · ${(median(values) / median(runs.ws)).toFixed(2)}× ws`);
  }
} finally {
  await Promise.all([a.stop(), b.stop(), daemonWs.stop(), forwarder.stop()]);
}
process.exit(0);
