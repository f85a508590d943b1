import { ControlCode, FrameType, SignalReason, isTerminalControl } from './codes.js';
import { decodeFrame, type Frame } from './frame-codec.js';
import { checkDataPayload, parseControl, parseHandshakeInit, pongFrame } from './frames.js';
import { DaemonSession } from './daemon-session.js';
import { SbrpError } from './errors.js';
import { generateEphemeral, nobleHandshakeCrypto, type EphemeralKeyPair, type HandshakeCrypto, type IdentitySigner, type RandomBytes } from './handshake.js';
import { EphemeralAhead } from './ephemeral-ahead.js';
import { randomBytes as defaultRandomBytes } from './random.js';
import type { Aead, Plaintext } from './aead.js';

/**
 * The daemon's end of its one relay connection, which carries every session tagged by
 * SessionID (sbrp.md §4). Transport-agnostic: feed it each message with `receive`.
 * A failure inside one session closes that session only; a terminal Control ends the
 * connection (the transport reconnects).
 */
export type DaemonEndpointEvent =
  | { type: 'session_open'; sessionId: bigint }
  | { type: 'message'; sessionId: bigint; data: Uint8Array }
  | { type: 'session_closed'; sessionId: bigint; reason: 'ended' | 'not_found' | 'error' | 'local' | 'state_lost'; error?: SbrpError }
  | { type: 'replay'; sessionId: bigint; seq: bigint }
  | { type: 'rate_limited' }
  | { type: 'pong'; payload: Uint8Array }
  | { type: 'protocol_error'; error: SbrpError }
  | { type: 'connection_error'; error: SbrpError };

export interface DaemonEndpointOptions {
  daemonId: string;
  identitySeed: Uint8Array;
  send: (frame: Uint8Array) => void;
  onEvent: (event: DaemonEndpointEvent) => void;
  /** Upper bound on live sessions; a HandshakeInit past it gets Signal(close, policy). */
  maxSessions?: number;
  randomBytes?: RandomBytes;
  /** ChaCha20-Poly1305 implementation (default: noble). */
  aead?: Aead;
  /** X25519/Ed25519 implementation of the handshake (default: noble; Node daemons pass nodeHandshakeCrypto). */
  handshake?: HandshakeCrypto;
  /** Ephemeral private key per session, for known-answer tests only. */
  ephemeralPrivateKeyFor?: (sessionId: bigint) => Uint8Array | undefined;
}

export const DAEMON_ENDPOINT_DEFAULTS = { maxSessions: 4096 } as const;

export class DaemonEndpoint {
  private readonly sessions = new Map<bigint, DaemonSession>();
  private send: (frame: Uint8Array) => void;
  /** The identity key prepared once: its public key is not re-derived per handshake. */
  private identity: IdentitySigner | undefined;
  /** The next session's ephemeral key pair, made in idle time (takeEphemeral). */
  private spare: EphemeralAhead | undefined;

  constructor(private readonly options: DaemonEndpointOptions) {
    this.send = options.send;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  session(sessionId: bigint): DaemonSession | undefined {
    return this.sessions.get(sessionId);
  }

  sessionIds(): bigint[] {
    return [...this.sessions.keys()];
  }

  /** Points the endpoint at a new connection (after a reconnect) without losing sessions. */
  setSend(send: (frame: Uint8Array) => void): void {
    this.send = send;
  }

  /**
   * Call when a new relay connection is up. With `resumed` (reconnect within grace with the
   * `session:resume` scope) every held session gets Signal(ready) after its integrity check, or
   * Signal(close, state_lost); without it the relay already expired them, so they are dropped.
   */
  reconnected(resumed: boolean): void {
    for (const [sessionId, session] of this.sessions) {
      if (resumed && session.signalResume()) continue;
      if (!resumed) session.destroy();
      this.sessions.delete(sessionId);
      this.options.onEvent({ type: 'session_closed', sessionId, reason: 'state_lost' });
    }
  }

  sendMessage(sessionId: bigint, plaintext: Plaintext): void {
    const session = this.sessions.get(sessionId);
    if (!session) throw new SbrpError('session_not_found', `no session ${sessionId}`, sessionId);
    session.sendMessage(plaintext);
  }

  /** Closes one session towards the client (Signal close) and forgets it. */
  closeSession(sessionId: bigint, reason: number = SignalReason.none): void {
    const session = this.sessions.get(sessionId);
    if (!session) return;
    session.signalClose(reason);
    this.sessions.delete(sessionId);
    this.options.onEvent({ type: 'session_closed', sessionId, reason: 'local' });
  }

  /** Forgets every session, zeroing keys (process shutdown or state loss). */
  destroyAll(): void {
    for (const session of this.sessions.values()) session.destroy();
    this.sessions.clear();
    this.spare?.discard();
    this.spare = undefined;
  }

  /**
   * The ephemeral key pair for the session being accepted: the one made ahead in idle time
   * after the previous handshake, or one made now for the first. The next session's is made
   * after this turn, so a handshake does not wait for key generation (issue 9: ~0.15 ms of a
   * daemon's 0.5 ms HandshakeInit → HandshakeAccept on node:crypto). One key waits at a time.
   * None with `ephemeralPrivateKeyFor` (known-answer tests fix the key).
   */
  private takeEphemeral(): EphemeralKeyPair | undefined {
    if (this.options.ephemeralPrivateKeyFor) return undefined;
    const make = () => generateEphemeral(this.options.randomBytes ?? defaultRandomBytes, this.options.handshake);
    const key = this.spare ? this.spare.take() : make();
    this.spare = new EphemeralAhead(make);
    return key;
  }

  /** Handles one WebSocket message. Never throws. */
  receive(message: Uint8Array): void {
    let frame: Frame;
    try {
      frame = decodeFrame(message);
    } catch (error) {
      this.options.onEvent({ type: 'protocol_error', error: error as SbrpError });
      return;
    }
    try {
      this.dispatch(frame);
    } catch (error) {
      const sbrp = error instanceof SbrpError ? error : new SbrpError('internal_error', String(error), frame.sessionId);
      if (frame.sessionId !== 0n && this.sessions.has(frame.sessionId)) this.dropSession(frame.sessionId, 'error', sbrp);
      else this.options.onEvent({ type: 'protocol_error', error: sbrp });
    }
  }

  private dispatch(frame: Frame): void {
    switch (frame.type) {
      case FrameType.Ping:
        this.send(pongFrame(frame.payload.slice()));
        return;
      case FrameType.Pong:
        this.options.onEvent({ type: 'pong', payload: frame.payload.slice() });
        return;
      case FrameType.Control:
        this.onControl(frame.sessionId, parseControl(frame).code);
        return;
      case FrameType.HandshakeInit:
        this.onInit(frame);
        return;
      case FrameType.Data:
        this.onData(frame);
        return;
      default:
        throw new SbrpError('disallowed_sender', `daemon received frame type 0x${frame.type.toString(16)}`, frame.sessionId);
    }
  }

  private onInit(frame: Frame): void {
    const clientEphemeral = parseHandshakeInit(frame);
    const sessionId = frame.sessionId;
    const existing = this.sessions.get(sessionId);
    if (existing) {
      // A second Init for a live SessionID is a protocol violation: end that session.
      this.dropSession(sessionId, 'error', new SbrpError('handshake_failed', 'duplicate HandshakeInit', sessionId));
      return;
    }
    const max = this.options.maxSessions ?? DAEMON_ENDPOINT_DEFAULTS.maxSessions;
    const session = new DaemonSession({
      daemonId: this.options.daemonId,
      sessionId,
      identitySeed: this.options.identitySeed,
      randomBytes: this.options.randomBytes ?? defaultRandomBytes,
      ephemeralPrivateKey: this.options.ephemeralPrivateKeyFor?.(sessionId),
      aead: this.options.aead,
      handshake: this.options.handshake,
      identity: (this.identity ??= (this.options.handshake ?? nobleHandshakeCrypto).ed25519Signer(this.options.identitySeed)),
      send: (bytes) => this.send(bytes),
    });
    if (this.sessions.size >= max) {
      // Refuse politely: the client sees session_expired rather than a silent hang.
      session.signalClose(SignalReason.policy);
      this.options.onEvent({ type: 'protocol_error', error: new SbrpError('internal_error', `session limit ${max} reached`, sessionId) });
      return;
    }
    this.sessions.set(sessionId, session);
    session.accept(clientEphemeral, this.takeEphemeral());
    this.options.onEvent({ type: 'session_open', sessionId });
  }

  private onData(frame: Frame): void {
    const session = this.sessions.get(frame.sessionId);
    if (!session) {
      this.options.onEvent({ type: 'protocol_error', error: new SbrpError('session_not_found', 'Data for an unknown session', frame.sessionId) });
      return;
    }
    checkDataPayload(frame);
    const result = session.open(frame.payload);
    if (result.kind === 'replay') this.options.onEvent({ type: 'replay', sessionId: frame.sessionId, seq: result.seq });
    else this.options.onEvent({ type: 'message', sessionId: frame.sessionId, data: result.plaintext });
  }

  private onControl(sessionId: bigint, code: number): void {
    if (code === ControlCode.rate_limited) {
      this.options.onEvent({ type: 'rate_limited' });
      return;
    }
    if (code === ControlCode.session_ended || code === ControlCode.session_not_found) {
      // The client left, or the relay no longer knows the session: clean up (sbrp.md §4).
      this.dropSession(sessionId, code === ControlCode.session_ended ? 'ended' : 'not_found');
      return;
    }
    if (!isTerminalControl(code, 'daemon')) return; // session_* states are client-facing
    this.options.onEvent({ type: 'connection_error', error: SbrpError.fromControl(code, sessionId) });
  }

  private dropSession(sessionId: bigint, reason: 'ended' | 'not_found' | 'error', error?: SbrpError): void {
    const session = this.sessions.get(sessionId);
    if (!session) return;
    if (reason === 'error') session.signalClose(SignalReason.error);
    else session.destroy();
    this.sessions.delete(sessionId);
    this.options.onEvent(error ? { type: 'session_closed', sessionId, reason, error } : { type: 'session_closed', sessionId, reason });
  }
}
