/**
 * `npx tsx bench/cold-start-ab.ts OTHER_ROOT [samples]`: the bench's cold-start figure for two
 * checkouts at once, so a change is judged on one machine state (issue 9). Starts the stack of
 * bench/node.bench.ts twice, once from this checkout and once from OTHER_ROOT (say, a copy with
 * the change undone: relay, daemon and client code all from that tree), plus the bare `ws`
 * forwarder baseline, and alternates single samples A, B, ws, B, A, ws, … Prints the median of
 * each and each ratio against the ws baseline, as `cold-start.node.session` computes it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { WebSocket } from 'ws';
import { summarize } from './figure.js';
import { firstByteMs } from './first-byte.js';

const [otherRoot, samplesText] = process.argv.slice(2);
if (!otherRoot) throw new Error('usage: cold-start-ab.ts OTHER_ROOT [samples]');
const samples = Number(samplesText ?? 60);
const RELAY_OPTIONS = { limits: { clientRate: { perSecond: 1e7, burst: 1e7 }, daemonRate: { perSecond: 1e7, burst: 1e7 } } };

/** A child answering test/helpers/child-ipc.ts requests. */
function child(file: string): { proc: ChildProcess; call: <T>(type: string, payload?: unknown) => Promise<T>; stop: () => Promise<void> } {
  const proc = fork(file, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let nextId = 1;
  const waiting = new Map<number, (message: { result?: unknown; error?: string }) => void>();
  proc.on('message', (message: { id: number; result?: unknown; error?: string }) => {
    waiting.get(message.id)?.(message);
    waiting.delete(message.id);
  });
  const exited = new Promise<void>((done) => proc.once('exit', () => done()));
  return {
    proc,
    call: <T>(type: string, payload?: unknown) =>
      new Promise<T>((ok, fail) => {
        const id = nextId++;
        waiting.set(id, (m) => (m.error !== undefined ? fail(new Error(m.error)) : ok(m.result as T)));
        proc.send({ id, type, payload });
      }),
    async stop() {
      if (proc.exitCode !== null) return;
      proc.send({ id: 0, type: 'exit' });
      await exited;
    },
  };
}

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
  const relay = child(resolve(root, 'test/helpers/relay-process.ts'));
  const daemon = child(resolve(root, 'bench/children/daemon-child.ts'));
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
const daemonWs = child(resolve(here, 'bench/children/daemon-child.ts'));
const forwarder = child(resolve(here, 'bench/children/forwarder-child.ts'));
const { url: daemonWsUrl } = await daemonWs.call<{ url: string }>('ws');
const { url: forwarderUrl } = await forwarder.call<{ url: string }>('start', { daemonUrl: daemonWsUrl });
const coldWs = async (): Promise<number> => {
  const start = performance.now();
  const ws = new WebSocket(forwarderUrl);
  await new Promise<void>((ok, fail) => {
    ws.once('open', () => ok());
    ws.once('error', fail);
  });
  const answered = new Promise<void>((ok) => ws.once('message', () => ok()));
  ws.send(JSON.stringify({ id: 1, method: 'GET', path: '/small' }));
  await answered;
  const ms = performance.now() - start;
  ws.close();
  return ms;
};

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
