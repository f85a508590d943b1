import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { toBase64Url } from '../protocol/bytes.js';
import { FrameType, HEADER_LENGTH } from '../protocol/codes.js';
import { IdentityKeyChangedError } from '../protocol/errors.js';
import { fingerprint } from '../protocol/fingerprint.js';
import { handshakeAcceptFrame } from '../protocol/frames.js';
import { signaturePayload } from '../protocol/handshake.js';
import { connectDaemon } from '../daemon/connect-daemon.js';
import type { DaemonConnection } from '../daemon/daemon-types.js';
import { generateIdentity } from '../daemon/identity.js';
import { connectClient } from '../client/connect-client.js';
import type { RelayClient } from '../web/client-types.js';
import { FilePinStore } from '../client/pin-store.js';
import { FAST_RECONNECT, startRelayFixture, type RelayFixture, type RegisteredTestDaemon } from './helpers/relay-fixture.js';
import { checkNoLeakedHandles } from './helpers/leak-check.js';
import { startTamperProxy, type FrameHook, type TamperProxy } from './helpers/tamper-proxy.js';
import { nextEvent } from './helpers/wait.js';

/** Reads a frame's SessionID. */
const sidOf = (frame: Uint8Array): bigint => new DataView(frame.buffer, frame.byteOffset).getBigUint64(5, false);

describe('e2e: a man in the middle swapping the daemon identity', () => {
  checkNoLeakedHandles();
  let fx: RelayFixture;
  let reg: RegisteredTestDaemon;
  let daemon: DaemonConnection;
  let proxy: TamperProxy;
  const clients: RelayClient[] = [];
  const attacker = generateIdentity();

  /** Replaces the identity key in HandshakeAccept; re-signs with the attacker key when `resign`. */
  const swapIdentity = (resign: boolean): FrameHook => {
    let clientEphemeral: Uint8Array | undefined;
    return (frame, direction) => {
      if (direction === 'toRelay' && frame[0] === FrameType.HandshakeInit) clientEphemeral = frame.slice(HEADER_LENGTH, HEADER_LENGTH + 32);
      if (direction !== 'toEndpoint' || frame[0] !== FrameType.HandshakeAccept) return undefined;
      const payload = frame.subarray(HEADER_LENGTH);
      const daemonEphemeral = payload.slice(32, 64);
      const signature = resign
        ? ed25519.sign(signaturePayload(reg.daemonId, clientEphemeral!, daemonEphemeral), attacker.seed)
        : payload.slice(64, 128); // the daemon's real signature, now paired with the wrong key
      return handshakeAcceptFrame(sidOf(frame), { identityPublicKey: attacker.publicKey, daemonEphemeral, signature });
    };
  };

  beforeEach(async () => {
    fx = await startRelayFixture();
    reg = await fx.registerDaemon();
    daemon = connectDaemon({ relay: fx.relay.url, apiKey: reg.apiKey, identity: reg.identity, onMessage: (sid, data) => daemon.send(sid, data) });
    await daemon.ready();
    proxy = await startTamperProxy(fx.relay.wsUrl);
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await daemon.close();
    await proxy.close();
    await fx.close();
  });

  it('a pinned client rejects a re-signed substituted key with identity_key_changed and does not retry', async () => {
    const pinPath = join(fx.dir, 'pins.json');
    const pinStore = new FilePinStore(pinPath);
    // Honest first contact, straight to the relay: pins the real key.
    const honest = connectClient({ relay: fx.relay.url, daemonId: reg.daemonId, getToken: fx.tokens(reg), pinStore });
    await honest.ready();
    await honest.close();
    const pinsBefore = await readFile(pinPath, 'utf8');

    proxy.setHook(swapIdentity(true));
    const getToken = fx.tokens(reg);
    const client = connectClient({ relay: fx.relay.url, wsUrl: proxy.wsUrl, daemonId: reg.daemonId, getToken, pinStore, reconnect: FAST_RECONNECT });
    clients.push(client);
    let opened = false;
    client.on('open', () => (opened = true));
    const { error } = await nextEvent(client, 'closed');

    expect(error).toBeInstanceOf(IdentityKeyChangedError);
    const changed = error as IdentityKeyChangedError;
    expect(changed.code).toBe('identity_key_changed');
    expect(changed.pinnedFingerprint).toBe(reg.identity.fingerprint);
    expect(changed.offeredFingerprint).toBe(fingerprint(attacker.publicKey));
    expect(changed.offeredKey).toEqual(attacker.publicKey);
    expect(opened).toBe(false);
    expect(client.state).toBe('closed');
    // No retry until a human approves: one token, and it stays one.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(getToken.calls).toBe(1);
    expect(await readFile(pinPath, 'utf8')).toBe(pinsBefore);

    // Only an explicit approval replaces the pin.
    await pinStore.approve(reg.daemonId, changed.offeredKey);
    const pins = JSON.parse(await readFile(pinPath, 'utf8')) as { pins: Record<string, string> };
    expect(pins.pins[reg.daemonId]).toBe(toBase64Url(attacker.publicKey));
  });

  it('a first-contact client rejects a substituted key whose signature does not verify (handshake_failed), pinning nothing', async () => {
    const pinPath = join(fx.dir, 'pins.json');
    proxy.setHook(swapIdentity(false));
    const getToken = fx.tokens(reg);
    const client = connectClient({
      relay: fx.relay.url,
      wsUrl: proxy.wsUrl,
      daemonId: reg.daemonId,
      getToken,
      pinStore: new FilePinStore(pinPath),
      reconnect: FAST_RECONNECT,
    });
    clients.push(client);
    const { error } = await nextEvent(client, 'closed');
    expect(error).toMatchObject({ code: 'handshake_failed' });
    await expect(readFile(pinPath, 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(getToken.calls).toBe(1);
  });

  it('a pinned client also rejects a forged signature under the real key (handshake_failed)', async () => {
    const pinStore = new FilePinStore(join(fx.dir, 'pins.json'));
    await pinStore.approve(reg.daemonId, reg.identity.publicKey);
    proxy.setHook((frame, direction) => {
      if (direction !== 'toEndpoint' || frame[0] !== FrameType.HandshakeAccept) return undefined;
      const forged = frame.slice();
      forged[HEADER_LENGTH + 64] ^= 0x01; // first signature byte
      return forged;
    });
    const client = connectClient({ relay: fx.relay.url, wsUrl: proxy.wsUrl, daemonId: reg.daemonId, getToken: fx.tokens(reg), pinStore, reconnect: FAST_RECONNECT });
    clients.push(client);
    const { error } = await nextEvent(client, 'closed');
    expect(error).toMatchObject({ code: 'handshake_failed' });
  });
});
