import { stat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { toBase64Url } from '../protocol/bytes.js';
import { fingerprint } from '../protocol/fingerprint.js';
import { MAX_PLAINTEXT } from '../protocol/codes.js';
import { connectDaemon } from '../daemon/connect-daemon.js';
import type { DaemonConnection } from '../daemon/daemon-types.js';
import { connectClient } from '../client/connect-client.js';
import type { RelayClient } from '../web/client-types.js';
import { FilePinStore } from '../client/pin-store.js';
import { startRelayFixture, type RelayFixture, type RegisteredTestDaemon } from './helpers/relay-fixture.js';
import { checkNoLeakedHandles } from './helpers/leak-check.js';
import { bytes, collect, nextEvent, text, waitFor } from './helpers/wait.js';

describe('e2e: handshake and messages through a real relay', () => {
  checkNoLeakedHandles();
  let fx: RelayFixture;
  let reg: RegisteredTestDaemon;
  let daemon: DaemonConnection;
  const clients: RelayClient[] = [];

  beforeEach(async () => {
    fx = await startRelayFixture();
    reg = await fx.registerDaemon();
    daemon = connectDaemon({
      relay: fx.relay.url,
      apiKey: reg.apiKey,
      identity: reg.identity,
      // The daemon pushes first, then echoes: traffic in both directions.
      onMessage: async (sessionId, data) => {
        await new Promise((resolve) => setImmediate(resolve));
        daemon.send(sessionId, bytes(`echo:${text(data)}`));
      },
    });
    daemon.on('session_open', ({ sessionId }) => daemon.send(sessionId, bytes('hello from daemon')));
    await daemon.ready();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await daemon.close();
    await fx.close();
  });

  it('pins on first contact, exchanges ordered messages both ways, and reuses the pin', async () => {
    const pinPath = join(fx.dir, 'pins.json');
    const pinStore = new FilePinStore(pinPath);
    await expect(stat(pinPath)).rejects.toMatchObject({ code: 'ENOENT' });

    const client = connectClient({ relay: fx.relay.url, daemonId: reg.daemonId, getToken: fx.tokens(reg), pinStore });
    clients.push(client);
    const received = collect(client, 'message');
    const open = await nextEvent(client, 'open');
    expect(open.firstContact).toBe(true);
    expect(open.fingerprint).toBe(reg.identity.fingerprint);
    expect(open.fingerprint).toBe(fingerprint(reg.identity.publicKey));

    // The pin is on disk, 0600, before `open` fires.
    const info = await stat(pinPath);
    expect(info.mode & 0o777).toBe(0o600);
    const file = JSON.parse(await readFile(pinPath, 'utf8')) as { version: number; pins: Record<string, string> };
    expect(file).toEqual({ version: 1, pins: { [reg.daemonId]: toBase64Url(reg.identity.publicKey) } });

    for (let i = 0; i < 100; i++) client.send(bytes(`m${i}`));
    const big = new Uint8Array(MAX_PLAINTEXT - 'echo:'.length).fill(0x61);
    client.send(big);
    await waitFor(() => received.length === 102, '102 messages');
    expect(text(received[0]!.data)).toBe('hello from daemon');
    expect(received.slice(1, 101).map((m) => text(m.data))).toEqual(Array.from({ length: 100 }, (_, i) => `echo:m${i}`));
    expect(received[101]!.data.length).toBe(MAX_PLAINTEXT);
    expect(daemon.status).toMatchObject({ state: 'connected', daemonId: reg.daemonId, sessions: 1 });

    // Leaving ends the session on the daemon side (session_ended from the relay).
    const closed = nextEvent(daemon, 'session_closed');
    await client.close();
    expect((await closed).reason).toBe('ended');
    expect(client.state).toBe('closed');

    // Second contact: the pin is used, not rewritten.
    const again = connectClient({ relay: fx.relay.url, daemonId: reg.daemonId, getToken: fx.tokens(reg), pinStore });
    clients.push(again);
    const second = await nextEvent(again, 'open');
    expect(second.firstContact).toBe(false);
    expect(second.fingerprint).toBe(reg.identity.fingerprint);
    expect((await stat(pinPath)).mtimeMs).toBe(info.mtimeMs);
  });

  it('keeps sessions apart: two clients each get only their own echoes', async () => {
    const pinStore = new FilePinStore(join(fx.dir, 'pins.json'));
    const a = connectClient({ relay: fx.relay.url, daemonId: reg.daemonId, getToken: fx.tokens(reg), pinStore });
    const b = connectClient({ relay: fx.relay.url, daemonId: reg.daemonId, getToken: fx.tokens(reg), pinStore });
    clients.push(a, b);
    const fromA = collect(a, 'message');
    const fromB = collect(b, 'message');
    await Promise.all([a.ready(), b.ready()]);
    expect(a.sessionId).not.toBe(b.sessionId);
    a.send(bytes('to-a'));
    b.send(bytes('to-b'));
    await waitFor(() => fromA.length === 2 && fromB.length === 2, 'both echoes');
    expect(fromA.map((m) => text(m.data))).toEqual(['hello from daemon', 'echo:to-a']);
    expect(fromB.map((m) => text(m.data))).toEqual(['hello from daemon', 'echo:to-b']);
    expect(daemon.sessionIds()).toHaveLength(2);
  });
});
