/**
 * Clients that send garbage after a valid handshake, against a real relay process and a daemon
 * process: garbage below SBRP (bytes that are no frame, a text message, lying length fields, an
 * oversized payload, unknown types, SID rule breaks, frames a client may not send, another
 * session's SID), a Data frame whose ciphertext is garbage, and garbage inner frames inside a
 * correctly encrypted session. Each ends that one connection with the documented code; meanwhile
 * another session of the same daemon downloads throughout and finishes intact without a single
 * lifecycle event, the daemon keeps serving new sessions, and the relay stays up (/healthz 200).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SidebandClient } from '../client/connect.js';
import { encodeFrame } from '../protocol/frame-codec.js';
import { FrameType, HEADER_LENGTH, MAX_PAYLOAD } from '../protocol/codes.js';
import { decodeCodeReason, decodeInner, encodeInner } from '../protocol/stream/inner-frame.js';
import { InnerKind, StreamCode } from '../protocol/stream/stream-codes.js';
import { checkNoLeakedHandles } from './helpers/leak-check.js';
import { hashBody, patternBytes, sha256 } from './helpers/http-fixture.js';
import { recordClientEvents, startFaultStack, type DaemonChild, type FaultDaemonReg, type FaultStack } from './helpers/fault-stack.js';
import { openGarbageClient, type GarbageClient } from './helpers/fault-raw-client.js';

const MiB = 1024 * 1024;

/** A frame header that claims `length` bytes of payload, followed by `actual` bytes. */
function lyingFrame(type: number, sessionId: bigint, length: number, actual: number): Uint8Array {
  const out = new Uint8Array(HEADER_LENGTH + actual);
  out[0] = type;
  new DataView(out.buffer).setUint32(1, length);
  new DataView(out.buffer).setBigUint64(5, sessionId);
  return out;
}

describe('fault: garbage after a valid handshake', () => {
  checkNoLeakedHandles();
  let stack: FaultStack;
  let reg: FaultDaemonReg;
  let daemon: DaemonChild;
  let bystander: SidebandClient;

  beforeAll(async () => {
    stack = await startFaultStack();
    reg = await stack.registerDaemon();
    daemon = await stack.spawnDaemon(reg);
    bystander = stack.client(reg);
    await bystander.ready();
  });
  afterAll(async () => {
    await stack.close();
  });

  const garbageClient = (): Promise<GarbageClient> =>
    openGarbageClient({ wsUrl: stack.relay.wsUrl, controlPlane: stack.controlPlane, apiKey: reg.apiKey, daemonId: reg.daemonId, identity: reg.identity });

  /**
   * Each garbage, sent right after the handshake. Below SBRP the relay answers with the Control
   * code of its validation order (sbrp.md §1, terminal) and tells the daemon the client left; a
   * Data frame that does not authenticate makes the daemon close that session (reason `error`);
   * a protocol violation inside the session gets an inner ERROR `protocol` and the daemon closes
   * the session (reason `local`). The relay then expires the client's session either way.
   */
  const relayCode = (code: string) => ({ code, daemon: 'ended' });
  const daemonCode = (daemon: string, innerError?: string) => ({ code: 'session_expired', daemon, ...(innerError ? { innerError } : {}) });
  const cases: [string, (g: GarbageClient) => void, object][] = [
    ['bytes that are no frame', (g) => g.ws.send(randomBytes(7)), relayCode('malformed_frame')],
    ['a text message', (g) => g.ws.send('hello relay'), relayCode('malformed_frame')],
    ['a length field larger than the message', (g) => g.ws.send(lyingFrame(FrameType.Data, g.sessionId, 100, 3)), relayCode('malformed_frame')],
    ['a length field smaller than the message', (g) => g.ws.send(lyingFrame(FrameType.Data, g.sessionId, 3, 100)), relayCode('malformed_frame')],
    ['a payload over 65536 bytes', (g) => g.ws.send(lyingFrame(FrameType.Data, g.sessionId, MAX_PAYLOAD + 1, MAX_PAYLOAD + 1)), relayCode('payload_too_large')],
    ['an unknown frame type', (g) => g.ws.send(encodeFrame(0x7f, g.sessionId, new Uint8Array(4))), relayCode('invalid_frame_type')],
    ['a Data frame with SessionID 0', (g) => g.ws.send(encodeFrame(FrameType.Data, 0n, new Uint8Array(40))), relayCode('invalid_session_id')],
    ['a Ping with a SessionID', (g) => g.ws.send(encodeFrame(FrameType.Ping, g.sessionId, new Uint8Array(4))), relayCode('invalid_session_id')],
    ['a HandshakeAccept from a client', (g) => g.ws.send(encodeFrame(FrameType.HandshakeAccept, g.sessionId, new Uint8Array(128))), relayCode('disallowed_sender')],
    ['a Control frame from a client', (g) => g.ws.send(encodeFrame(FrameType.Control, 0n, new Uint8Array([0x01, 0x01]))), relayCode('disallowed_sender')],
    ['a Data frame for another session', (g) => g.ws.send(encodeFrame(FrameType.Data, g.sessionId ^ 1n, randomBytes(40))), relayCode('session_not_found')],
    ['a Data frame whose ciphertext is garbage', (g) => g.ws.send(encodeFrame(FrameType.Data, g.sessionId, randomBytes(60))), daemonCode('error')],
    ['garbage inner bytes inside valid encryption', (g) => g.sendInner(randomBytes(3)), daemonCode('local', 'protocol')],
    ['a second inner HELLO', (g) => g.sendInner(encodeInner(InnerKind.HELLO, 0, new Uint8Array([0x80]))), daemonCode('local', 'protocol')],
  ];

  it('each garbage ends only its own connection, with the documented code; a concurrent download on another session finishes intact', async () => {
    const events = recordClientEvents(bystander, ['paused', 'pending', 'resumed', 'disconnected']);
    const size = 48 * MiB + 11;
    const res = await bystander.fetch(`/bytes?size=${size}&seed=6`);
    const download = hashBody(res.body);
    const outcomes: Record<string, object> = {};
    for (const [name, send] of cases) {
      const g = await garbageClient();
      const closedAtDaemon = daemon.next((e) => e.event === 'session_closed' && e.sessionId === String(g.sessionId), `daemon closed session of "${name}"`);
      send(g);
      const { code } = await g.ended;
      const { reason } = await closedAtDaemon;
      const errorFrame = g.received.map((bytes) => decodeInner(bytes)).find((f) => f.kind === InnerKind.ERROR);
      const innerError = errorFrame ? Object.entries(StreamCode).find(([, v]) => v === decodeCodeReason(errorFrame.body).code)?.[0] : undefined;
      outcomes[name] = { code, daemon: reason, ...(innerError ? { innerError } : {}) };
    }
    expect(outcomes).toEqual(Object.fromEntries(cases.map(([name, , expected]) => [name, expected])));
    expect(await download).toEqual({ sha256: sha256(patternBytes(size, 6)), length: size });
    expect(events).toEqual([]);
    expect(bystander.state).toBe('open');
    // The daemon and the relay carry on: a new session works, the relay process is up and healthy.
    const fresh = stack.client(reg);
    expect(((await (await fresh.fetch('/ok')).json()) as { pid: number }).pid).toBe(daemon.pid);
    expect(stack.relay.child.exitCode).toBeNull();
    expect((await fetch(`${stack.relay.url}/healthz`)).status).toBe(200);
  });
});
