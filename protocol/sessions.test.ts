/**
 * Client and daemon state machines wired back to back in memory. The "relay" here is the
 * test itself passing frames along (and injecting Control frames); the real relay is covered
 * in relay/ and test/e2e-*.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ed25519 } from '@noble/curves/ed25519.js';
import { ClientSession, type ClientSessionEvent } from './client-session.js';
import { DaemonEndpoint, type DaemonEndpointEvent } from './daemon-endpoint.js';
import { controlFrame } from './frames.js';
import { decodeFrame, encodeFrame } from './frame-codec.js';
import { FrameType, SignalReason } from './codes.js';
import { utf8, fromUtf8 } from './bytes.js';
import { LAST_SEQUENCE } from './data-cipher.js';
import { IdentityKeyChangedError } from './errors.js';
import { generateEphemeral } from './handshake.js';
import { randomBytes } from './random.js';

const seed = new Uint8Array(32).fill(7);
const identity = ed25519.getPublicKey(seed);

function pair(options: { pinned?: Uint8Array; daemonSeed?: Uint8Array; maxSessions?: number } = {}) {
  const toDaemon: Uint8Array[] = [];
  const toClient: Uint8Array[] = [];
  const clientEvents: ClientSessionEvent[] = [];
  const daemonEvents: DaemonEndpointEvent[] = [];
  const daemon = new DaemonEndpoint({
    daemonId: 'daemon-1',
    identitySeed: options.daemonSeed ?? seed,
    send: (f) => toClient.push(f),
    onEvent: (e) => daemonEvents.push(e),
    maxSessions: options.maxSessions,
  });
  const client = new ClientSession({
    daemonId: 'daemon-1',
    sessionId: 42n,
    pinnedIdentity: options.pinned,
    send: (f) => toDaemon.push(f),
    onEvent: (e) => clientEvents.push(e),
  });
  const pump = () => {
    while (toDaemon.length || toClient.length) {
      for (const f of toDaemon.splice(0)) daemon.receive(f);
      for (const f of toClient.splice(0)) client.receive(f);
    }
  };
  return { client, daemon, clientEvents, daemonEvents, toDaemon, toClient, pump };
}

const messages = (events: ClientSessionEvent[]) =>
  events.flatMap((e) => (e.type === 'message' ? [fromUtf8(e.data)] : []));

describe('client and daemon sessions', () => {
  it('handshake, first-contact pin, and messages both ways', () => {
    const p = pair();
    p.client.start();
    p.pump();
    const open = p.clientEvents.find((e) => e.type === 'open');
    expect(open).toMatchObject({ type: 'open', firstContact: true });
    expect(p.client.state).toBe('open');
    p.client.sendMessage(utf8('ping'));
    p.pump();
    expect(p.daemonEvents.filter((e) => e.type === 'message').map((e) => fromUtf8((e as { data: Uint8Array }).data))).toEqual(['ping']);
    p.daemon.sendMessage(42n, utf8('pong'));
    p.pump();
    expect(messages(p.clientEvents)).toEqual(['pong']);
  });

  it('aborts with identity_key_changed and both fingerprints when the key differs from the pin', () => {
    const p = pair({ pinned: ed25519.getPublicKey(new Uint8Array(32).fill(9)) });
    p.client.start();
    p.pump();
    expect(p.client.state).toBe('closed');
    const error = p.client.error as IdentityKeyChangedError;
    expect(error.code).toBe('identity_key_changed');
    expect(error.pinnedFingerprint).not.toBe(error.offeredFingerprint);
    expect(error.offeredKey).toEqual(identity);
  });

  it('accepts the pinned key on later contact', () => {
    const p = pair({ pinned: identity });
    p.client.start();
    p.pump();
    expect(p.clientEvents.find((e) => e.type === 'open')).toMatchObject({ firstContact: false });
  });

  it('rejects an Accept whose signature was made for another transcript (handshake_failed)', () => {
    const p = pair();
    p.client.start();
    for (const f of p.toDaemon.splice(0)) p.daemon.receive(f);
    const accept = p.toClient.shift()!;
    accept[accept.length - 1]! ^= 1; // flip a signature bit
    p.client.receive(accept);
    expect(p.client.error?.code).toBe('handshake_failed');
  });

  it('drops a replayed Data frame, fails on reorder (sequence_error) and on tamper (decrypt_failed)', () => {
    const replay = pair();
    replay.client.start();
    replay.pump();
    replay.daemon.sendMessage(42n, utf8('a'));
    const a = replay.toClient[0]!.slice();
    replay.pump();
    replay.client.receive(a);
    expect(replay.clientEvents.some((e) => e.type === 'replay')).toBe(true);
    expect(replay.client.state).toBe('open');

    const reorder = pair();
    reorder.client.start();
    reorder.pump();
    reorder.daemon.sendMessage(42n, utf8('1'));
    reorder.daemon.sendMessage(42n, utf8('2'));
    const [, second] = reorder.toClient.splice(0);
    reorder.client.receive(second!);
    expect(reorder.client.error?.code).toBe('sequence_error');

    const tamper = pair();
    tamper.client.start();
    tamper.pump();
    tamper.daemon.sendMessage(42n, utf8('x'));
    const frame = tamper.toClient.shift()!;
    frame[frame.length - 1]! ^= 0x80;
    tamper.client.receive(frame);
    expect(tamper.client.error?.code).toBe('decrypt_failed');
  });

  it('holds client messages while paused and delivers them in order after resume', () => {
    const p = pair();
    p.client.start();
    p.pump();
    p.client.receive(controlFrame('session_paused', 42n));
    expect(p.client.state).toBe('paused');
    p.client.sendMessage(utf8('held-1'));
    p.client.sendMessage(utf8('held-2'));
    expect(p.toDaemon).toHaveLength(0);
    p.client.receive(controlFrame('session_pending', 42n));
    expect(p.client.state).toBe('pending');
    // Daemon reconnected within grace: it signals ready for the session it still holds.
    p.daemon.reconnected(true);
    expect(decodeFrame(p.toClient.shift()!)).toMatchObject({ type: FrameType.Signal, payload: Uint8Array.of(0, 0) });
    p.client.receive(controlFrame('session_resumed', 42n));
    p.pump();
    expect(p.clientEvents.map((e) => e.type)).toEqual(expect.arrayContaining(['paused', 'pending', 'resumed']));
    const got = p.daemonEvents.flatMap((e) => (e.type === 'message' ? [fromUtf8(e.data)] : []));
    expect(got).toEqual(['held-1', 'held-2']);
  });

  it('bounds what it holds while paused', () => {
    const toDaemon: Uint8Array[] = [];
    const client = new ClientSession({ daemonId: 'd', sessionId: 1n, send: (f) => toDaemon.push(f), onEvent: () => {}, maxHeldMessages: 2 });
    const daemon = new DaemonEndpoint({ daemonId: 'd', identitySeed: seed, send: (f) => client.receive(f), onEvent: () => {} });
    client.start();
    for (const f of toDaemon.splice(0)) daemon.receive(f);
    client.receive(controlFrame('session_paused', 1n));
    client.sendMessage(utf8('1'));
    client.sendMessage(utf8('2'));
    expect(() => client.sendMessage(utf8('3'))).toThrowError(expect.objectContaining({ code: 'backpressure' }));
  });

  it('a daemon back without its state sends Signal(close, state_lost)', () => {
    const p = pair();
    p.client.start();
    p.pump();
    const session = p.daemon.session(42n)!;
    session.destroy(); // keys gone, as after losing volatile memory
    p.daemon.reconnected(true);
    expect(decodeFrame(p.toClient.shift()!).payload).toEqual(Uint8Array.of(1, SignalReason.state_lost));
    expect(p.daemon.sessionCount).toBe(0);
  });

  it('treats terminal Control codes, and unknown ones, as fatal for the client', () => {
    for (const code of [0x0302, 0x0902, 0x7777]) {
      const p = pair();
      p.client.start();
      p.pump();
      p.client.receive(controlFrame(code, 42n));
      expect(p.client.state).toBe('closed');
    }
  });

  it('session_ended and session_not_found clean up one daemon session; others live on', () => {
    const p = pair();
    p.client.start();
    p.pump();
    const other = new ClientSession({ daemonId: 'daemon-1', sessionId: 43n, send: (f) => p.daemon.receive(f), onEvent: () => {} });
    other.start();
    expect(p.daemon.sessionCount).toBe(2);
    p.daemon.receive(controlFrame('session_ended', 42n));
    p.daemon.receive(controlFrame('session_not_found', 99n));
    expect(p.daemon.sessionIds()).toEqual([43n]);
  });

  it('a key pair made ahead (ephemeral option) is the one HandshakeInit carries, used once and wiped', () => {
    const ahead = generateEphemeral(randomBytes);
    const privateCopy = ahead.privateKey.slice();
    const sent: Uint8Array[] = [];
    const events: ClientSessionEvent[] = [];
    const client = new ClientSession({ daemonId: 'daemon-1', sessionId: 44n, send: (f) => sent.push(f), onEvent: (e) => events.push(e), ephemeral: ahead });
    client.start();
    expect(decodeFrame(sent[0]!).payload).toEqual(ahead.publicKey);
    const daemon = new DaemonEndpoint({ daemonId: 'daemon-1', identitySeed: seed, send: (f) => client.receive(f), onEvent: () => {} });
    daemon.receive(sent[0]!);
    expect(events.some((e) => e.type === 'open')).toBe(true);
    expect(privateCopy.some((byte) => byte !== 0)).toBe(true);
    expect(ahead.privateKey.every((byte) => byte === 0)).toBe(true); // wiped once the keys were derived
  });

  it('a key pair made ahead is wiped when the session closes before it started', () => {
    const ahead = generateEphemeral(randomBytes);
    const client = new ClientSession({ daemonId: 'daemon-1', sessionId: 45n, send: () => {}, onEvent: () => {}, ephemeral: ahead });
    client.close();
    expect(ahead.privateKey.every((byte) => byte === 0)).toBe(true);
  });

  it('the daemon makes the next session\'s ephemeral key after a handshake, in idle time, and each key once', async () => {
    let made = 0;
    const counting = (n: number) => {
      if (n === 32) made++; // an X25519 private key (noble)
      return randomBytes(n);
    };
    const accepts: Uint8Array[] = [];
    const daemon = new DaemonEndpoint({ daemonId: 'daemon-1', identitySeed: seed, randomBytes: counting, send: (f) => accepts.push(decodeFrame(f).payload), onEvent: () => {} });
    const init = (sessionId: bigint) => {
      const sent: Uint8Array[] = [];
      new ClientSession({ daemonId: 'daemon-1', sessionId, send: (f) => sent.push(f), onEvent: () => {} }).start();
      return sent[0]!;
    };
    const first = init(50n);
    const second = init(51n);
    const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
    made = 0;
    daemon.receive(first);
    expect(made).toBe(1); // the first session's key, made on its path
    await nextTurn();
    expect(made).toBe(2); // the next session's, made after that turn
    daemon.receive(second);
    expect(made).toBe(2); // taken, not made: the handshake did not wait for it
    const daemonEphemeral = (accept: Uint8Array) => accept.subarray(32, 64);
    expect(daemonEphemeral(accepts[1]!)).not.toEqual(daemonEphemeral(accepts[0]!));
    daemon.destroyAll(); // the spare scheduled after the second is never made
    await nextTurn();
    expect(made).toBe(2);
  });

  it('refuses sessions past maxSessions with Signal(close, policy)', () => {
    const p = pair({ maxSessions: 1 });
    p.client.start();
    p.pump();
    const sent: Uint8Array[] = [];
    const other = new ClientSession({ daemonId: 'daemon-1', sessionId: 43n, send: (f) => sent.push(f), onEvent: () => {} });
    other.start();
    p.daemon.receive(sent[0]!);
    expect(decodeFrame(p.toClient.pop()!).payload).toEqual(Uint8Array.of(1, SignalReason.policy));
    expect(p.daemon.sessionCount).toBe(1);
  });

  it('stops sending when the next sequence would be 2^64−1', () => {
    const p = pair();
    p.client.start();
    p.pump();
    const session = p.daemon.session(42n)!;
    session.jumpSendSequence(LAST_SEQUENCE);
    session.sendMessage(utf8('last'));
    expect(() => session.sendMessage(utf8('one too many'))).toThrowError(expect.objectContaining({ code: 'sequence_error' }));
  });

  it('never throws from receive, whatever the relay sends (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 20 }), (junk) => {
        const p = pair();
        p.client.start();
        p.pump();
        for (const bytes of junk) {
          p.client.receive(bytes);
          p.daemon.receive(bytes);
        }
        // A session-bound frame with garbage must not crash either.
        p.daemon.receive(encodeFrame(FrameType.Data, 42n, new Uint8Array(40)));
      }),
      { numRuns: 200 },
    );
  });

  it('zeroes keys when a daemon session is told the client left', () => {
    const p = pair();
    p.client.start();
    p.pump();
    p.daemon.receive(controlFrame('session_ended', 42n));
    expect(p.daemonEvents.some((e) => e.type === 'session_closed' && e.reason === 'ended')).toBe(true);
    expect(() => p.daemon.sendMessage(42n, utf8('x'))).toThrowError(expect.objectContaining({ code: 'session_not_found' }));
  });

  it('answers Ping with Pong carrying the same payload', () => {
    const p = pair();
    p.daemon.receive(encodeFrame(FrameType.Ping, 0n, Uint8Array.of(1, 2, 3)));
    expect(decodeFrame(p.toClient.shift()!)).toMatchObject({ type: FrameType.Pong, payload: Uint8Array.of(1, 2, 3) });
  });
});
