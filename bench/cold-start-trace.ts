/**
 * `npx tsx bench/cold-start-trace.ts [samples] [--sessions-only] [--cpu-prof DIR] [--timeline]`:
 * where the time of a new Node client session goes (issue 9, figure `cold-start.node.session`).
 * Starts the stack the bench uses (relay and daemon in child processes, the client here) and
 * times every phase of `samples` new sessions (default 40), from the client's side:
 *
 *   token      getToken(): HTTP POST /v1/tokens/session over the shared keep-alive pool
 *   upgrade    HTTP upgrade (the TCP connection was opened during the token request), incl. the
 *              relay's token check and admission
 *   handshake  socket open → session open (HandshakeInit → relay → daemon → HandshakeAccept)
 *   request    session open → first response byte of GET /small
 *
 * and, for comparison, the pieces alone: a token request from a ControlPlaneClient, one
 * through Node's global fetch, one on a fresh node:http connection, a bare upgrade with a
 * valid token, and the bench baseline (fresh `ws` + one round trip via the forwarder);
 * `--sessions-only` leaves those out.
 *
 * `--cpu-prof DIR` writes CPU profiles of the relay and daemon children (50 µs interval; read
 * them with `bench/cpu-profile-top.ts` or DevTools). `--timeline` records every socket write
 * and read of all three processes (bench/wire-timeline.ts) and prints the session with the
 * median total as one timeline: which process did what when, so the gaps show where time goes
 * (a process's own work between a read and its next write, the wire between a write and the
 * peer's read). The relay's HTTP reads are not seen (its parser reads the socket directly).
 * Prints ms; numbers are for finding the cost, not claims (bench/README.md).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toBase64Url } from '../protocol/bytes.js';
import { ControlPlaneClient } from '../node/control-plane-client.js';
import { generateIdentity } from '../daemon/identity.js';
import { nodeAead } from '../node/aead-node.js';
import { nodeHandshakeCrypto } from '../node/handshake-node.js';
import { nodeRelaySocketOpener, openRelaySocket } from '../node/relay-socket.js';
import { MemoryPinStore } from '../client/pin-store.js';
import { controlPlaneTokens } from '../client/session-token-source.js';
import { RelayClientLoop } from '../web/relay-client.js';
import { sidebandClient } from '../web/sideband-client.js';
import { relayWebSocketUrl } from '../web/relay-url.js';
import { FULL_FRAME_LIMITS } from '../protocol/stream/stream-codes.js';
import { forkChild, type ChildHandle } from '../test/helpers/child-ipc.js';
import { FAST_RECONNECT } from '../test/helpers/relay-fixture.js';
import { summarize } from './figure.js';
import { wsFirstByteMs } from './first-byte.js';
import type { WireEvent } from './wire-timeline.js';

const RELAY_OPTIONS = { limits: { clientRate: { perSecond: 1e7, burst: 1e7 }, daemonRate: { perSecond: 1e7, burst: 1e7 } } };

const args = process.argv.slice(2);
function flag(name: string, withValue = false): string | boolean {
  const index = args.indexOf(name);
  if (index < 0) return false;
  const [, value] = args.splice(index, withValue ? 2 : 1);
  return withValue ? (value ?? '') : true;
}
const profDir = flag('--cpu-prof', true) || undefined;
const sessionsOnly = flag('--sessions-only') === true;
const timelineDir = flag('--timeline') ? mkdtempSync(join(tmpdir(), 'wire-timeline-')) : undefined;
const samples = Number(args[0] ?? 40);
const wireTimeline = fileURLToPath(new URL('./wire-timeline.ts', import.meta.url));
// Imported before any socket exists, so the client's sockets are recorded from the start.
const timeline = timelineDir ? await import('./wire-timeline.js') : undefined;
const mark = (label: string): void => timeline?.mark(label);

/**
 * A child serving test/helpers/child-ipc.ts requests, forked with `--cpu-prof` or the wire
 * recorder when asked (both write their files when the child exits). The recorder in a child
 * writes where WIRE_TIMELINE_DIR says: set for the children only, after this process loaded
 * its own recorder, which keeps its events in memory.
 */
function child(script: string): ChildHandle {
  if (timelineDir) process.env.WIRE_TIMELINE_DIR = timelineDir;
  return forkChild(script, [...(profDir ? ['--cpu-prof', '--cpu-prof-interval', '50', `--cpu-prof-dir=${String(profDir)}`] : []), ...(timelineDir ? ['--import', wireTimeline] : [])]);
}

function median(values: number[]): string {
  return summarize(values).median.toFixed(3);
}

async function main(): Promise<void> {
  const relay = child('./relay-process.ts');
  const daemon = child('../../bench/children/daemon-child.ts');
  const forwarder = forkChild('../../bench/children/forwarder-child.ts');
  try {
    const started = await relay.call<{ url: string; adminKey: string }>('start', RELAY_OPTIONS);
    const identity = generateIdentity();
    const { daemonId, apiKey } = await new ControlPlaneClient({ baseUrl: started.url }).registerDaemon(started.adminKey, { identityPublicKey: toBase64Url(identity.publicKey) });
    await daemon.call('listen', { relay: started.url, apiKey, seed: toBase64Url(identity.seed) });
    const { url: daemonWsUrl } = await daemon.call<{ url: string }>('ws');
    const { url: forwarderUrl } = await forwarder.call<{ url: string }>('start', { daemonUrl: daemonWsUrl });
    const wsUrl = relayWebSocketUrl(started.url);
    const getToken = controlPlaneTokens({ baseUrl: started.url, bearer: apiKey, daemonId });

    const phases = { token: [] as number[], pin: [] as number[], upgrade: [] as number[], handshake: [] as number[], request: [] as number[], total: [] as number[] };
    const oneSession = async (record: boolean): Promise<void> => {
      const marks: Record<string, number> = {};
      const start = performance.now();
      mark('session-start');
      const opener = nodeRelaySocketOpener();
      const loop = new RelayClientLoop({
        relay: started.url,
        daemonId,
        pinStore: new MemoryPinStore(),
        reconnect: FAST_RECONNECT,
        aead: nodeAead,
        handshake: nodeHandshakeCrypto,
        preconnect: opener.preconnect,
        getToken: async (signal) => {
          const token = await getToken(signal);
          marks.token = performance.now();
          mark('token-resolved');
          return token;
        },
        openSocket: async (url, token, signal) => {
          mark('open-socket');
          const socket = await opener(url, token, signal);
          marks.upgrade = performance.now();
          mark('socket-open');
          return socket;
        },
      });
      loop.on('open', () => {
        marks.open = performance.now();
        mark('session-open');
      });
      const client = sidebandClient(loop, { defer: setImmediate, limits: { ...FULL_FRAME_LIMITS } });
      try {
        const res = await client.fetch('/small');
        const reader = res.body!.getReader();
        await reader.read();
        const end = performance.now();
        mark('session-first-byte');
        await reader.cancel();
        if (!record) return;
        phases.token.push(marks.token! - start);
        phases.upgrade.push(marks.upgrade! - marks.token!);
        phases.handshake.push(marks.open! - marks.upgrade!);
        phases.request.push(end - marks.open!);
        phases.total.push(end - start);
      } finally {
        await client.close();
      }
    };

    // The pieces alone.
    const cp = new ControlPlaneClient({ baseUrl: started.url });
    const cpUndici = new ControlPlaneClient({ baseUrl: started.url, fetch });
    const tokenUndici: number[] = [];
    const tokenReused: number[] = [];
    const tokenFresh: number[] = [];
    const upgradeOnly: number[] = [];
    const wsBaseline: number[] = [];
    // node:http without an agent: a new TCP connection for this one request.
    const freshTokenRequest = (): Promise<void> =>
      new Promise((resolve, reject) => {
        const req = httpRequest(`${started.url}/v1/tokens/session`, { method: 'POST', agent: false, headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' } }, (res) => {
          res.resume();
          res.once('end', () => resolve());
        });
        req.once('error', reject);
        req.end(JSON.stringify({ daemonId }));
      });
    const bareUpgrade = async (): Promise<number> => {
      const { token } = await cp.sessionToken(apiKey, daemonId);
      const start = performance.now();
      const ws = await openRelaySocket(wsUrl, token);
      const ms = performance.now() - start;
      ws.terminate();
      return ms;
    };
    const baseline = () => wsFirstByteMs(forwarderUrl);

    for (let i = 0; i < 5; i++) {
      await oneSession(false);
      await cp.sessionToken(apiKey, daemonId);
      await freshTokenRequest();
      await cpUndici.sessionToken(apiKey, daemonId);
      await bareUpgrade();
      await baseline();
    }
    for (let i = 0; i < samples; i++) {
      await oneSession(true);
      if (sessionsOnly) continue;
      let t = performance.now();
      await cp.sessionToken(apiKey, daemonId);
      tokenReused.push(performance.now() - t);
      t = performance.now();
      await cpUndici.sessionToken(apiKey, daemonId);
      tokenUndici.push(performance.now() - t);
      t = performance.now();
      await freshTokenRequest();
      tokenFresh.push(performance.now() - t);
      upgradeOnly.push(await bareUpgrade());
      wsBaseline.push(await baseline());
    }

    console.log(`medians of ${samples} new sessions, ms (client side)`);
    console.log(`  session: token ${median(phases.token)} · upgrade ${median(phases.upgrade)} · handshake ${median(phases.handshake)} · first request ${median(phases.request)} · total ${median(phases.total)}`);
    if (sessionsOnly) return;
    console.log(`  alone:   token (ControlPlaneClient default) ${median(tokenReused)} · token via global fetch (undici) ${median(tokenUndici)} · token, fresh connection ${median(tokenFresh)} · bare upgrade ${median(upgradeOnly)}`);
    console.log(`  baseline (fresh ws + round trip via forwarder) ${median(wsBaseline)} · ratio ${(summarize(phases.total).median / summarize(wsBaseline).median).toFixed(2)}×`);
  } finally {
    await Promise.all([forwarder.stop(), daemon.stop()]);
    await relay.stop();
  }
}

/** The session with the median total, as one timeline of the three processes' socket events. */
function printTimeline(dir: string, own: readonly WireEvent[]): void {
  const all: { t: number; who: string; kind: string; ports: string; bytes: number }[] = [];
  const add = (who: string, events: readonly WireEvent[]) => {
    for (const [t, kind, local, remote, bytes] of events) all.push({ t, who, kind, ports: local ? `${local}→${remote}` : '', bytes });
  };
  for (const file of readdirSync(dir)) add(file.includes('relay') ? 'relay' : 'daemon', JSON.parse(readFileSync(join(dir, file), 'utf8')) as WireEvent[]);
  add('client', own);
  all.sort((a, b) => a.t - b.t);
  const starts = all.filter((e) => e.kind === 'session-start');
  const ends = all.filter((e) => e.kind === 'session-first-byte');
  const sessions = starts.slice(-ends.length).map((start, i) => ({ start: start.t, end: ends[i]!.t })).slice(-samples);
  const chosen = [...sessions].sort((a, b) => a.end - a.start - (b.end - b.start))[Math.floor(sessions.length / 2)]!;
  console.log(`timeline of the median session (ms from its start; gap = since the previous line)`);
  let previous = chosen.start;
  for (const e of all.filter((x) => x.t >= chosen.start && x.t <= chosen.end)) {
    const what = e.kind === 'send' || e.kind === 'recv' ? `${e.kind} ${e.bytes} B ${e.ports}` : e.kind;
    console.log(`  ${(e.t - chosen.start).toFixed(3).padStart(7)}  +${(e.t - previous).toFixed(3)}  ${e.who.padEnd(6)}  ${what}`);
    previous = e.t;
  }
}

await main();
if (timelineDir) {
  printTimeline(timelineDir, timeline!.recorded());
  rmSync(timelineDir, { recursive: true, force: true });
}
process.exit(0);
