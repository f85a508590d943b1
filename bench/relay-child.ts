/**
 * Child process of bench/relay.bench.ts: runs one forwarder — the real relay, or a bare `ws`
 * forwarder with no checks — so the load generator (the parent) and the forwarder each have a
 * core of their own. Started with `--expose-gc`; talks to the parent over IPC:
 *
 *   parent → { type: 'tokens', sessions }   child → { type: 'tokens', daemon, clients }
 *   parent → { type: 'memory' }             child → { type: 'memory', bytes, rss, connections }
 *   parent → { type: 'exit' }
 *
 * First message to the parent: { type: 'ready', url, bufferutil }.
 * `WS_NO_BUFFER_UTIL=1` in the environment makes ws mask and unmask in JavaScript.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { WebSocket, WebSocketServer } from 'ws';
import { ed25519 } from '@noble/curves/ed25519.js';
import { startRelay, type RelayServer } from '../relay/index.js';
import { toBase64Url } from '../protocol/bytes.js';
import type { RelayChildReply, RelayChildRequest } from './relay-ipc.js';

const mode = process.argv[2];
if (mode !== 'relay' && mode !== 'bare') throw new Error('usage: relay-child.ts relay|bare');

function bufferutilLoaded(): boolean {
  if (process.env.WS_NO_BUFFER_UTIL) return false;
  try {
    createRequire(import.meta.url)('bufferutil');
    return true;
  } catch {
    return false;
  }
}

function send(reply: RelayChildReply): void {
  process.send!(reply);
}

/** Heap plus external memory after two full collections (what the sockets' JS side holds). */
function settledBytes(): { bytes: number; rss: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  gc();
  gc();
  const usage = process.memoryUsage();
  return { bytes: usage.heapUsed + usage.external, rss: usage.rss };
}

let connectionCount: () => number;
let issueTokens: (sessions: number) => Promise<{ daemon: string; clients: string[]; sids: string[] }>;
let url: string;

if (mode === 'relay') {
  const limit = { perSecond: 1e9, burst: 1e9 };
  const relay: RelayServer = await startRelay({ port: 0, limits: { clientRate: limit, daemonRate: limit } });
  url = relay.wsUrl;
  connectionCount = () => {
    const text = relay.metrics.render();
    let total = 0;
    for (const match of text.matchAll(/^sbrp_relay_connections\{[^}]*\} (\d+)$/gm)) total += Number(match[1]);
    return total;
  };
  issueTokens = async (sessions) => {
    // A fresh daemon (and identity key) per request: its sessions start from nothing.
    const identityPublicKey = toBase64Url(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));
    const { daemonId } = await relay.controlPlane.registerDaemon({ identityPublicKey });
    const daemon = (await relay.controlPlane.issuePresenceToken(daemonId)).token;
    const clients: string[] = [];
    const sids: string[] = [];
    for (let i = 0; i < sessions; i++) {
      const session = await relay.controlPlane.issueSessionToken(daemonId, 'bench');
      clients.push(session.token);
      sids.push(String(session.sessionId));
    }
    return { daemon, clients, sids };
  };
} else {
  // The floor for any WebSocket relay in Node: the first socket of a path is the "daemon";
  // every message from another socket of that path is copied to it, with no checks at all.
  const server = createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: false });
  const daemons = new Map<string, WebSocket>();
  let open = 0;
  wss.on('connection', (ws, req) => {
    open++;
    ws.on('close', () => open--);
    const path = req.url ?? '/';
    if (path.endsWith('/daemon')) {
      daemons.set(path.slice(0, -'/daemon'.length), ws);
      return;
    }
    const daemon = daemons.get(path);
    ws.on('message', (data, isBinary) => daemon?.send(data, { binary: isBinary }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `ws://127.0.0.1:${(server.address() as { port: number }).port}`;
  let next = 0;
  connectionCount = () => open;
  issueTokens = async (sessions) => {
    const path = `/p${next++}`;
    return { daemon: `${path}/daemon`, clients: Array.from({ length: sessions }, () => path), sids: Array.from({ length: sessions }, (_, i) => String(i + 1)) };
  };
}

process.on('message', (message: RelayChildRequest) => {
  (async () => {
    if (message.type === 'tokens') send({ type: 'tokens', ...(await issueTokens(message.sessions)) });
    else if (message.type === 'memory') send({ type: 'memory', ...settledBytes(), connections: connectionCount() });
    else if (message.type === 'exit') process.exit(0);
  })().catch((error: unknown) => {
    // The parent waits for an answer: fail loudly instead.
    console.error('relay bench child:', error);
    process.exit(1);
  });
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready', url, bufferutil: bufferutilLoaded() });
