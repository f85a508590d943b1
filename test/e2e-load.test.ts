import type WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64Url } from '../protocol/bytes.js';
import { ClientSession } from '../protocol/client-session.js';
import { decodeSid } from '../protocol/session-id.js';
import { ControlPlaneClient } from '../node/control-plane-client.js';
import { closeSocket, messageBytes, openRelaySocket } from '../node/relay-socket.js';
import { generateIdentity } from '../daemon/identity.js';
import { forkChild, type ChildHandle, type MemorySample } from './helpers/child-ipc.js';
import { checkNoLeakedHandles } from './helpers/leak-check.js';
import { waitFor } from './helpers/wait.js';

const SESSIONS = 1000;
const CONCURRENCY = 50;
/**
 * Per-session memory bounds (heapUsed + external after full GCs), chosen from measurement with
 * about 4× headroom: measured 3.1 KiB on the daemon and 7.4 KiB on the relay (Node 20, x64).
 */
const DAEMON_BYTES_PER_SESSION = 16 * 1024;
const RELAY_BYTES_PER_SESSION = 32 * 1024;

interface LiveSession {
  ws: WebSocket;
  session: ClientSession;
  echoes: number;
}

/** Runs `task` for 0..count-1 with at most `limit` in flight. */
async function pool<T>(count: number, limit: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

const perSession = (before: MemorySample, after: MemorySample): number =>
  (after.heapUsed + after.external - (before.heapUsed + before.external)) / SESSIONS;

describe('e2e: 1,000 concurrent sessions through one relay and one daemon', () => {
  checkNoLeakedHandles();
  let relay: ChildHandle;
  let daemon: ChildHandle;
  const live: LiveSession[] = [];

  beforeAll(async () => {
    relay = forkChild('./relay-process.ts');
    daemon = forkChild('./daemon-process.ts');
  });

  afterAll(async () => {
    await Promise.all(live.splice(0).map(({ ws }) => closeSocket(ws)));
    await daemon.stop();
    await relay.stop();
  });

  it('opens, uses and closes them all within the per-session memory bound', async () => {
    const { url, wsUrl, adminKey } = await relay.call<{ url: string; wsUrl: string; adminKey: string }>('start', { graceMs: 5_000 });
    const cp = new ControlPlaneClient({ baseUrl: url });
    const identity = generateIdentity();
    const { daemonId, apiKey } = await cp.registerDaemon(adminKey, { identityPublicKey: toBase64Url(identity.publicKey) });
    await daemon.call('start', { relay: url, apiKey, seed: toBase64Url(identity.seed) });

    const relayBefore = await relay.call<MemorySample>('memory');
    const daemonBefore = await daemon.call<MemorySample>('memory');

    const started = Date.now();
    const tokens = await pool(SESSIONS, CONCURRENCY, () => cp.sessionToken(apiKey, daemonId));
    await pool(SESSIONS, CONCURRENCY, async (i) => {
      const { token, sid } = tokens[i]!;
      const ws = await openRelaySocket(wsUrl, token);
      await new Promise<void>((resolve, reject) => {
        const entry: LiveSession = {
          ws,
          echoes: 0,
          session: new ClientSession({
            daemonId,
            sessionId: decodeSid(sid)!,
            pinnedIdentity: identity.publicKey,
            send: (frame) => ws.send(frame),
            onEvent: (event) => {
              if (event.type === 'open') {
                live.push(entry);
                entry.session.sendMessage(Uint8Array.of(i & 0xff, i >> 8));
              } else if (event.type === 'message') {
                expect(Array.from(event.data)).toEqual([i & 0xff, i >> 8]);
                entry.echoes++;
                resolve();
              } else if (event.type === 'closed') {
                reject(event.error ?? new Error('session closed'));
              }
            },
          }),
        };
        ws.on('message', (data) => entry.session.receive(messageBytes(data)));
        ws.resume();
        entry.session.start();
      });
    });
    const openMs = Date.now() - started;
    expect(live).toHaveLength(SESSIONS);
    expect(live.every((s) => s.echoes === 1 && s.session.state === 'open')).toBe(true);
    expect(await daemon.call<{ sessions: number }>('stats')).toMatchObject({ sessions: SESSIONS, opened: SESSIONS });

    const relayAfter = await relay.call<MemorySample>('memory');
    const daemonAfter = await daemon.call<MemorySample>('memory');
    const daemonPer = perSession(daemonBefore, daemonAfter);
    const relayPer = perSession(relayBefore, relayAfter);
    console.log(
      `[load] ${SESSIONS} sessions opened and echoed in ${openMs} ms; per session: daemon ${(daemonPer / 1024).toFixed(1)} KiB, ` +
        `relay ${(relayPer / 1024).toFixed(1)} KiB (heapUsed + external after GC); ` +
        `daemon rss +${((daemonAfter.rss - daemonBefore.rss) / SESSIONS / 1024).toFixed(1)} KiB, relay rss +${((relayAfter.rss - relayBefore.rss) / SESSIONS / 1024).toFixed(1)} KiB`,
    );
    expect(daemonPer).toBeLessThan(DAEMON_BYTES_PER_SESSION);
    expect(relayPer).toBeLessThan(RELAY_BYTES_PER_SESSION);

    // Close them all: every session ends at the daemon.
    await Promise.all(live.splice(0).map(({ ws, session }) => closeSocket(ws).then(() => session.close())));
    await waitFor(async () => {
      const stats = await daemon.call<{ sessions: number; closed: number }>('stats');
      return stats.sessions === 0 && stats.closed === SESSIONS;
    }, 'all sessions closed at the daemon', 20_000);
  });
});
