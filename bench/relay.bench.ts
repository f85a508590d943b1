/**
 * Relay forwarding cost: Data frames from a client socket to a daemon socket through the real
 * relay (token auth done, validation order and routing on every frame), against a bare `ws`
 * forwarder that copies each message from one socket to the other with no checks — the floor
 * for any WebSocket relay in Node on this machine. Rate limits are raised for the run so the
 * limiter does not cap the measurement. Both run in this process, measured the same way.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { ed25519 } from '@noble/curves/ed25519.js';
import { startRelay } from '../relay/index.js';
import { toBase64Url } from '../protocol/bytes.js';
import { encodeFrame } from '../protocol/frame-codec.js';
import { FrameType } from '../protocol/codes.js';

const FRAMES = 4000;
const IN_FLIGHT = 128;

interface Pipe {
  client: WebSocket;
  daemon: WebSocket;
  sessionId: bigint;
  close(): Promise<void>;
}

/** Sends FRAMES frames client → daemon with at most IN_FLIGHT unacknowledged; returns MB/s. */
async function pump(pipe: Pipe, payloadBytes: number): Promise<number> {
  const frame = encodeFrame(FrameType.Data, pipe.sessionId, new Uint8Array(payloadBytes));
  let received = 0;
  let sent = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const sendMore = () => {
    while (sent < FRAMES && sent - received < IN_FLIGHT) {
      pipe.client.send(frame);
      sent++;
    }
  };
  pipe.daemon.on('message', () => {
    received++;
    if (received === FRAMES) resolveDone();
    else sendMore();
  });
  const start = performance.now();
  sendMore();
  await done;
  const seconds = (performance.now() - start) / 1000;
  pipe.daemon.removeAllListeners('message');
  return (FRAMES * frame.length) / seconds / 1e6;
}

async function relayPipe(): Promise<Pipe> {
  const relay = await startRelay({ port: 0, limits: { clientRate: { perSecond: 1e7, burst: 1e7 }, daemonRate: { perSecond: 1e7, burst: 1e7 } } });
  const identityPublicKey = toBase64Url(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));
  const { daemonId } = await relay.controlPlane.registerDaemon({ identityPublicKey });
  const presence = await relay.controlPlane.issuePresenceToken(daemonId);
  const daemon = new WebSocket(relay.wsUrl, { headers: { authorization: `Bearer ${presence.token}` } });
  await once(daemon, 'open');
  const session = await relay.controlPlane.issueSessionToken(daemonId, 'bench');
  const client = new WebSocket(relay.wsUrl, { headers: { authorization: `Bearer ${session.token}` } });
  await once(client, 'open');
  return {
    client,
    daemon,
    sessionId: BigInt(session.sessionId),
    close: async () => {
      client.close();
      daemon.close();
      await relay.close();
    },
  };
}

async function barePipe(): Promise<Pipe> {
  const server: Server = createServer();
  const wss = new WebSocketServer({ server });
  const sockets: WebSocket[] = [];
  wss.on('connection', (ws) => {
    sockets.push(ws);
    ws.on('message', (data, isBinary) => {
      const other = sockets.find((s) => s !== ws);
      other?.send(data, { binary: isBinary });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `ws://127.0.0.1:${(server.address() as { port: number }).port}`;
  const daemon = new WebSocket(url);
  await once(daemon, 'open');
  const client = new WebSocket(url);
  await once(client, 'open');
  while (sockets.length < 2) await new Promise((r) => setTimeout(r, 5));
  return {
    client,
    daemon,
    sessionId: 1n,
    close: async () => {
      client.close();
      daemon.close();
      wss.close();
      server.close();
    },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export async function relayBenchmarks(): Promise<void> {
  for (const payload of [1024, 16 * 1024, 65536]) {
    // Alternate the two, three rounds each, and keep the medians: the machine has 2 cores.
    const bareRuns: number[] = [];
    const relayRuns: number[] = [];
    for (let round = 0; round < 3; round++) {
      const bare = await barePipe();
      bareRuns.push(await pump(bare, payload));
      await bare.close();
      const viaRelay = await relayPipe();
      relayRuns.push(await pump(viaRelay, payload));
      await viaRelay.close();
    }
    const baseline = median(bareRuns);
    const relayed = median(relayRuns);
    console.log(`\nRelay forwarding, ${payload}-byte Data payload, ${FRAMES} frames, ${IN_FLIGHT} in flight`);
    console.log(`  bare ws forwarder (no checks)                1.000× baseline  ${baseline.toFixed(1)} MB/s`);
    console.log(`  sideband relay (validate, route, meter)      ${(relayed / baseline).toFixed(3)}× baseline  ${relayed.toFixed(1)} MB/s`);
  }
}
