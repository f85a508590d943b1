import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameType, MAX_PAYLOAD, SignalCode, type ControlName } from '../protocol/codes.js';
import { encodeFrame } from '../protocol/frame-codec.js';
import { controlFrame, signalFrame } from '../protocol/frames.js';
import { TestRelay, type TestPeer } from './testing/harness.js';

/**
 * sbrp.md §1 relay validation order and §3 Control codes, each provoked by a real bad frame on a
 * real connection. Terminal codes must close the connection; the daemon's session_not_found must not.
 */

/** A header with any type/length/SID and any number of payload bytes (not necessarily agreeing). */
function rawFrame(type: number, length: number, sid: bigint, payloadBytes: number): Uint8Array {
  const out = new Uint8Array(13 + payloadBytes);
  const view = new DataView(out.buffer);
  view.setUint8(0, type);
  view.setUint32(1, length);
  view.setBigUint64(5, sid);
  return out;
}

interface Case {
  name: string;
  sender: 'client' | 'daemon';
  /** Builds the bad message; `sid` is the client's own SessionID. */
  message: (sid: bigint) => Uint8Array | string;
  code: ControlName;
  /** Expected Control SessionID; 'own' = the client's SessionID, 'own+1' the one after it. */
  sessionId: bigint | 'own' | 'own+1';
}

const S = 0x1234n;
const cases: Case[] = [
  { name: 'text message', sender: 'client', message: () => 'hello', code: 'malformed_frame', sessionId: 0n },
  { name: 'truncated header', sender: 'client', message: () => Uint8Array.of(0x03, 0, 0, 0), code: 'malformed_frame', sessionId: 0n },
  { name: 'length larger than the message', sender: 'client', message: (sid) => rawFrame(0x03, 40, sid, 30), code: 'malformed_frame', sessionId: 0n },
  { name: 'bytes after the payload', sender: 'daemon', message: () => rawFrame(0x03, 28, S, 29), code: 'malformed_frame', sessionId: 0n },
  { name: 'Ping payload over 8 bytes', sender: 'client', message: () => encodeFrame(FrameType.Ping, 0n, new Uint8Array(9)), code: 'malformed_frame', sessionId: 0n },
  { name: 'Signal payload not 2 bytes', sender: 'daemon', message: () => encodeFrame(FrameType.Signal, S, new Uint8Array(3)), code: 'malformed_frame', sessionId: 0n },
  { name: 'payload over 65536', sender: 'client', message: (sid) => rawFrame(0x03, MAX_PAYLOAD + 1, sid, MAX_PAYLOAD + 1), code: 'payload_too_large', sessionId: 0n },
  { name: 'payload of twice the limit', sender: 'daemon', message: () => rawFrame(0x03, 2 * MAX_PAYLOAD, S, 2 * MAX_PAYLOAD), code: 'payload_too_large', sessionId: 0n },
  { name: 'unknown frame type 0x05', sender: 'client', message: (sid) => rawFrame(0x05, 0, sid, 0), code: 'invalid_frame_type', sessionId: 0n },
  { name: 'unknown frame type 0xff', sender: 'daemon', message: () => rawFrame(0xff, 0, 0n, 0), code: 'invalid_frame_type', sessionId: 0n },
  { name: 'client Data with SessionID 0', sender: 'client', message: () => encodeFrame(FrameType.Data, 0n, new Uint8Array(28)), code: 'invalid_session_id', sessionId: 0n },
  { name: 'daemon Ping with SessionID ≠ 0', sender: 'daemon', message: () => encodeFrame(FrameType.Ping, 5n), code: 'invalid_session_id', sessionId: 0n },
  { name: 'client sends HandshakeAccept (02)', sender: 'client', message: (sid) => encodeFrame(FrameType.HandshakeAccept, sid, new Uint8Array(128)), code: 'disallowed_sender', sessionId: 'own' },
  { name: 'client sends Signal (04)', sender: 'client', message: (sid) => signalFrame(sid, SignalCode.ready), code: 'disallowed_sender', sessionId: 'own' },
  { name: 'client sends Control (20)', sender: 'client', message: (sid) => controlFrame('forbidden', sid), code: 'disallowed_sender', sessionId: 'own' },
  { name: 'daemon sends HandshakeInit (01)', sender: 'daemon', message: () => encodeFrame(FrameType.HandshakeInit, S, new Uint8Array(32)), code: 'disallowed_sender', sessionId: S },
  { name: 'daemon sends Control (20)', sender: 'daemon', message: () => controlFrame('forbidden', S), code: 'disallowed_sender', sessionId: S },
  { name: 'client frame for another SessionID', sender: 'client', message: (sid) => encodeFrame(FrameType.Data, sid + 1n, new Uint8Array(28)), code: 'session_not_found', sessionId: 'own+1' },
];

describe('relay frame validation (sbrp.md §1, §3)', () => {
  let t: TestRelay;
  beforeAll(async () => {
    t = await TestRelay.start();
  });
  afterAll(async () => {
    await t.close();
  });

  it.each(cases)('$sender: $name → $code', async (c) => {
    const daemon = await t.onlineDaemon();
    const client = await t.client(daemon.daemonId);
    const offender: TestPeer = c.sender === 'client' ? client.peer : daemon.peer;
    const message = c.message(client.sessionId);
    offender.ws.send(message, { binary: typeof message !== 'string' });
    const control = await offender.control(c.code);
    const expected = c.sessionId === 'own' ? client.sessionId : c.sessionId === 'own+1' ? client.sessionId + 1n : c.sessionId;
    expect(control.sessionId).toBe(expected);
    expect(control.payload.length).toBe(2); // empty Control text unless debug (sbrp.md §1 Decision)
    expect(await offender.closedWithin()).toBe(1000);
    // Nothing of the bad frame reached the other side.
    const other = c.sender === 'client' ? daemon.peer : client.peer;
    expect(other.frames.filter((f) => f.type !== FrameType.Control)).toHaveLength(0);
  });

  it('answers a daemon frame for an unknown session with session_not_found and keeps the connection', async () => {
    const daemon = await t.onlineDaemon();
    const client = await t.client(daemon.daemonId);
    daemon.peer.send(encodeFrame(FrameType.Data, 77n, new Uint8Array(28)));
    daemon.peer.send(signalFrame(78n, SignalCode.ready));
    expect((await daemon.peer.control('session_not_found', 77n)).sessionId).toBe(77n);
    await daemon.peer.control('session_not_found', 78n);
    // The other session on the same daemon connection keeps working.
    daemon.peer.send(encodeFrame(FrameType.Data, client.sessionId, new Uint8Array(28).fill(1)));
    expect((await client.peer.next((f) => f.type === FrameType.Data)).payload[0]).toBe(1);
    expect(daemon.peer.ws.readyState).toBe(daemon.peer.ws.OPEN);
  });

  it('answers a daemon frame for a session that has ended with session_not_found (N)', async () => {
    const daemon = await t.onlineDaemon();
    const client = await t.client(daemon.daemonId);
    client.peer.ws.close();
    await daemon.peer.control('session_ended', client.sessionId);
    daemon.peer.send(encodeFrame(FrameType.Data, client.sessionId, new Uint8Array(28)));
    await daemon.peer.control('session_not_found', client.sessionId);
    expect(daemon.peer.ws.readyState).toBe(daemon.peer.ws.OPEN);
  });

  it('does not let a daemon address another daemon’s session', async () => {
    const a = await t.onlineDaemon();
    const b = await t.onlineDaemon();
    const client = await t.client(a.daemonId);
    b.peer.send(encodeFrame(FrameType.Data, client.sessionId, new Uint8Array(28)));
    await b.peer.control('session_not_found', client.sessionId);
    expect(client.peer.frames).toHaveLength(0);
  });

  it('lets ws cut a message beyond twice the payload limit (close 1009, no Control)', async () => {
    const daemon = await t.onlineDaemon();
    const client = await t.client(daemon.daemonId);
    client.peer.send(rawFrame(0x03, 0, client.sessionId, 2 * MAX_PAYLOAD + 100));
    expect(await client.peer.closedWithin()).toBe(1009);
    expect(client.peer.frames).toHaveLength(0);
  });

  it('puts diagnostic text in Control frames only in debug mode', async () => {
    const debugRelay = await TestRelay.start({ debug: true });
    try {
      const daemon = await debugRelay.onlineDaemon();
      const client = await debugRelay.client(daemon.daemonId);
      client.peer.ws.send('text', { binary: false });
      const control = await client.peer.control('malformed_frame');
      expect(new TextDecoder().decode(control.payload.subarray(2))).toBe('text message');
    } finally {
      await debugRelay.close();
    }
  });
});
