import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FrameType, HEADER_LENGTH, NONCE_LENGTH } from '../protocol/codes.js';
import { connectDaemon } from '../daemon/connect-daemon.js';
import type { DaemonConnection } from '../daemon/daemon-types.js';
import { connectClient } from '../client/connect-client.js';
import type { RelayClient } from '../web/client-types.js';
import { FilePinStore } from '../client/pin-store.js';
import { FAST_RECONNECT, startRelayFixture, type RelayFixture, type RegisteredTestDaemon } from './helpers/relay-fixture.js';
import { checkNoLeakedHandles } from './helpers/leak-check.js';
import { startTamperProxy, type TamperProxy } from './helpers/tamper-proxy.js';
import { bytes, collect, nextEvent, text, waitFor } from './helpers/wait.js';

const isData = (frame: Uint8Array): boolean => frame[0] === FrameType.Data;

describe('e2e: replayed, reordered and tampered Data frames', () => {
  checkNoLeakedHandles();
  let fx: RelayFixture;
  let reg: RegisteredTestDaemon;
  let daemon: DaemonConnection;
  let proxy: TamperProxy;
  let client: RelayClient;
  let getToken: ReturnType<RelayFixture['tokens']>;
  const handled: string[] = [];

  beforeEach(async () => {
    handled.length = 0;
    fx = await startRelayFixture();
    reg = await fx.registerDaemon();
    daemon = connectDaemon({
      relay: fx.relay.url,
      apiKey: reg.apiKey,
      identity: reg.identity,
      onMessage: (sid, data) => {
        handled.push(text(data));
        daemon.send(sid, bytes(`echo:${text(data)}`));
      },
    });
    await daemon.ready();
    proxy = await startTamperProxy(fx.relay.wsUrl);
    getToken = fx.tokens(reg);
    client = connectClient({
      relay: fx.relay.url,
      wsUrl: proxy.wsUrl,
      daemonId: reg.daemonId,
      getToken,
      pinStore: new FilePinStore(join(fx.dir, 'pins.json')),
      reconnect: FAST_RECONNECT,
    });
    await client.ready();
  });

  afterEach(async () => {
    await client.close();
    await daemon.close();
    await proxy.close();
    await fx.close();
  });

  it('a replayed daemon→client frame is dropped and reported; the session carries on', async () => {
    const messages = collect(client, 'message');
    const replays = collect(client, 'replay');
    proxy.setHook((frame, direction) => (direction === 'toEndpoint' && isData(frame) ? [frame, frame, frame] : undefined));
    client.send(bytes('one'));
    client.send(bytes('two'));
    await waitFor(() => messages.length === 2 && replays.length === 4, 'two messages and four replays');
    proxy.setHook(undefined);
    client.send(bytes('three'));
    await waitFor(() => messages.length === 3, 'third message');
    expect(messages.map((m) => text(m.data))).toEqual(['echo:one', 'echo:two', 'echo:three']);
    expect(replays.map((r) => r.seq)).toEqual([0n, 0n, 1n, 1n]);
    expect(client.state).toBe('open');
    expect(getToken.calls).toBe(1);
  });

  it('a replayed client→daemon frame is dropped and reported by the daemon; the handler runs once', async () => {
    const replays = collect(daemon, 'replay');
    proxy.setHook((frame, direction) => (direction === 'toRelay' && isData(frame) ? [frame, frame] : undefined));
    const messages = collect(client, 'message');
    client.send(bytes('once'));
    await waitFor(() => messages.length === 1 && replays.length === 1, 'echo and replay');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(handled).toEqual(['once']);
    expect(replays[0]).toMatchObject({ sessionId: client.sessionId, seq: 0n });
  });

  it('reordered frames end the session with sequence_error, then the client reconnects with a new token and handshake', async () => {
    let held: Uint8Array | undefined;
    proxy.setHook((frame, direction) => {
      if (direction !== 'toEndpoint' || !isData(frame)) return undefined;
      if (!held) {
        held = frame; // hold back the first…
        return null;
      }
      return [frame, held]; // …and deliver it after the second
    });
    const firstSession = client.sessionId;
    const disconnected = nextEvent(client, 'disconnected');
    client.send(bytes('a'));
    client.send(bytes('b'));
    const { error, retryInMs } = await disconnected;
    expect(error).toMatchObject({ code: 'sequence_error' });
    expect(retryInMs).toBeTypeOf('number');
    proxy.setHook(undefined);
    const reopened = await nextEvent(client, 'open');
    expect(reopened.firstContact).toBe(false);
    expect(reopened.sessionId).not.toBe(firstSession);
    expect(getToken.calls).toBe(2);
    const messages = collect(client, 'message');
    client.send(bytes('after'));
    await waitFor(() => messages.length === 1, 'echo after reconnect');
    expect(text(messages[0]!.data)).toBe('echo:after');
  });

  it('a tampered daemon→client ciphertext fails with decrypt_failed', async () => {
    proxy.setHook((frame, direction) => {
      if (direction !== 'toEndpoint' || !isData(frame)) return undefined;
      const tampered = frame.slice();
      tampered[HEADER_LENGTH + NONCE_LENGTH] ^= 0x80; // first ciphertext byte
      return tampered;
    });
    const messages = collect(client, 'message');
    const disconnected = nextEvent(client, 'disconnected');
    client.send(bytes('x'));
    expect((await disconnected).error).toMatchObject({ code: 'decrypt_failed' });
    expect(messages).toHaveLength(0);
  });

  it('a tampered client→daemon frame closes that session at the daemon (decrypt_failed) and the client gets session_expired', async () => {
    proxy.setHook((frame, direction) => {
      if (direction !== 'toRelay' || !isData(frame)) return undefined;
      const tampered = frame.slice();
      tampered[tampered.length - 1] ^= 0x01; // last tag byte
      return tampered;
    });
    const closed = nextEvent(daemon, 'session_closed');
    const disconnected = nextEvent(client, 'disconnected');
    client.send(bytes('y'));
    const event = await closed;
    expect(event.reason).toBe('error');
    expect(event.error).toMatchObject({ code: 'decrypt_failed' });
    expect((await disconnected).error).toMatchObject({ code: 'session_expired' });
    expect(handled).toEqual([]);
  });
});
