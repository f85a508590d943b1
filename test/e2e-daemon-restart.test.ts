import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectDaemon } from '../daemon/connect-daemon.js';
import type { DaemonConnection } from '../daemon/daemon-types.js';
import { configPathFor } from '../daemon/daemon-config.js';
import { loadIdentity } from '../daemon/identity.js';
import { connectClient } from '../client/connect-client.js';
import type { RelayClient } from '../web/client-types.js';
import { FilePinStore } from '../client/pin-store.js';
import { ADMIN_KEY, FAST_RECONNECT, startRelayFixture, type RelayFixture } from './helpers/relay-fixture.js';
import { checkNoLeakedHandles } from './helpers/leak-check.js';
import { spawnDaemonCli, type CliProcess } from './helpers/daemon-cli-process.js';
import { startTamperProxy, type TamperProxy } from './helpers/tamper-proxy.js';
import { bytes, collect, nextEvent, text, waitFor } from './helpers/wait.js';

describe('e2e: daemon restart and daemon reconnect within grace', () => {
  checkNoLeakedHandles();
  let fx: RelayFixture;
  const clients: RelayClient[] = [];
  const processes: CliProcess[] = [];
  let daemon: DaemonConnection | undefined;
  let proxy: TamperProxy | undefined;

  beforeEach(async () => {
    fx = await startRelayFixture({ graceMs: 10_000 });
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(processes.splice(0).map((p) => p.kill()));
    await daemon?.close();
    await proxy?.close();
    await fx.close();
  });

  it('a restarted daemon process (state lost) expires the session; the client reconnects with a new token and handshake', async () => {
    const identityPath = join(fx.dir, 'daemon', 'identity.json');
    // First run: registers, saves the config, echoes.
    const first = spawnDaemonCli(['--relay', fx.relay.url, '--identity', identityPath, '--register', '--admin-key', ADMIN_KEY, '--echo']);
    processes.push(first);
    const [, fp] = await first.waitForLine(/^fingerprint (SHA256:\S+)/);
    await first.waitForLine(/^connected to /);
    const identity = (await loadIdentity(identityPath))!;
    expect(fp).toBe(identity.fingerprint);
    expect((await stat(identityPath)).mode & 0o777).toBe(0o600);
    expect((await stat(configPathFor(identityPath))).mode & 0o777).toBe(0o600);
    const daemonId = first.lines.map((l) => l.match(/as daemon (\S+)/)?.[1]).find(Boolean)!;
    expect(daemonId).toBeTruthy();

    const { apiKey } = JSON.parse(await readFile(configPathFor(identityPath), 'utf8')) as { apiKey: string };
    const getToken = fx.tokens({ identity, daemonId, apiKey });
    const client = connectClient({
      relay: fx.relay.url,
      daemonId,
      getToken,
      pinStore: new FilePinStore(join(fx.dir, 'pins.json')),
      reconnect: FAST_RECONNECT,
    });
    clients.push(client);
    const messages = collect(client, 'message');
    const firstOpen = await nextEvent(client, 'open');
    client.send(bytes('before'));
    await waitFor(() => messages.length === 1, 'echo before restart');

    // Crash: SIGKILL, no Signal(close) reaches anyone. The relay pauses the session.
    const paused = nextEvent(client, 'paused');
    await first.kill();
    await paused;

    // Second run needs no flags but the identity: relay and key come from the saved config.
    const second = spawnDaemonCli(['--identity', identityPath, '--echo']);
    processes.push(second);
    const { error } = await nextEvent(client, 'disconnected', 20_000);
    // A fresh process asks for no session:resume, so the relay expires the session at once.
    expect(error).toMatchObject({ code: 'session_expired' });
    const reopened = await nextEvent(client, 'open', 20_000);
    expect(reopened.sessionId).not.toBe(firstOpen.sessionId);
    expect(reopened.firstContact).toBe(false);
    expect(reopened.fingerprint).toBe(identity.fingerprint);
    expect(getToken.calls).toBe(2);
    client.send(bytes('after'));
    await waitFor(() => messages.length === 2, 'echo after restart');
    expect(messages.map((m) => text(m.data))).toEqual(['before', 'after']); // --echo sends the bytes back as they are
    expect(await second.stop()).toBe(0);
  });

  it('a daemon that loses only its socket resumes within grace: paused → pending → resumed, same keys and counters', async () => {
    const reg = await fx.registerDaemon();
    proxy = await startTamperProxy(fx.relay.wsUrl);
    const states: string[] = [];
    daemon = connectDaemon({
      relay: fx.relay.url,
      wsUrl: proxy.wsUrl, // the daemon's path to the relay goes through a cuttable proxy
      apiKey: reg.apiKey,
      identity: reg.identity,
      reconnect: { ...FAST_RECONNECT, minDelayMs: 200, maxDelayMs: 200 },
      onMessage: (sid, data) => daemon!.send(sid, bytes(`echo:${text(data)}`)),
    });
    daemon.on('state', ({ state }) => states.push(state));
    const daemonOpens = collect(daemon, 'session_open');
    await daemon.ready();

    const getToken = fx.tokens(reg);
    const client = connectClient({ relay: fx.relay.url, daemonId: reg.daemonId, getToken, pinStore: new FilePinStore(join(fx.dir, 'pins.json')), reconnect: FAST_RECONNECT });
    clients.push(client);
    const messages = collect(client, 'message');
    const opens = collect(client, 'open');
    const lifecycle: string[] = [];
    for (const type of ['paused', 'pending', 'resumed'] as const) client.on(type, () => lifecycle.push(type));
    await client.ready();
    const sessionId = client.sessionId!;
    for (let i = 0; i < 5; i++) client.send(bytes(`a${i}`));
    await waitFor(() => messages.length === 5, 'first echoes');

    // Cut the daemon's socket only: its process and session state survive.
    const paused = nextEvent(client, 'paused');
    proxy.dropAll();
    await paused;
    expect(client.state).toBe('paused');
    // Both sides keep sending while the daemon is away: the client holds, the daemon holds.
    client.send(bytes('while-paused'));
    await waitFor(() => daemon!.state === 'reconnecting' || undefined, 'daemon noticed the drop');
    daemon.send(sessionId, bytes('pushed-while-away'));

    await nextEvent(client, 'resumed', 10_000);
    expect(lifecycle).toEqual(['paused', 'pending', 'resumed']);
    for (let i = 0; i < 5; i++) client.send(bytes(`b${i}`));
    await waitFor(() => messages.length === 12, 'echoes after resume');
    expect(messages.map((m) => text(m.data))).toEqual([
      ...Array.from({ length: 5 }, (_, i) => `echo:a${i}`),
      'pushed-while-away',
      'echo:while-paused',
      ...Array.from({ length: 5 }, (_, i) => `echo:b${i}`),
    ]);
    // Same session, no new handshake on either side, no new token.
    expect(client.sessionId).toBe(sessionId);
    expect(opens).toHaveLength(1);
    expect(daemonOpens).toHaveLength(1);
    expect(getToken.calls).toBe(1);
    expect(states).toEqual(['connected', 'reconnecting', 'connected']);
  });
});
