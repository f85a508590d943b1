import { ControlCode, FrameType, isTerminalControl } from './codes.js';
import { decodeFrame } from './frame-codec.js';
import { handshakeInitFrame, parseControl, parseHandshakeAccept, checkDataPayload, pongFrame } from './frames.js';
import { clientHandshake, ephemeralFromPrivate, generateEphemeral, type EphemeralKeyPair, type HandshakeCrypto, type RandomBytes } from './handshake.js';
import { DataOpener, DataSealer, Direction } from './data-cipher.js';
import { IdentityKeyChangedError, SbrpError } from './errors.js';
import { fingerprint } from './fingerprint.js';
import { bytesEqual, wipe } from './bytes.js';
import { randomBytes as defaultRandomBytes } from './random.js';
import { copyPlaintext, plaintextLength, type Aead, type Plaintext } from './aead.js';

/**
 * Client side of one SBRP session (sbrp.md §2, §4), transport-agnostic: feed it every
 * WebSocket message with `receive`, and it calls `send` with frames and reports events.
 * The service worker and the Node client both drive this same class.
 *
 *   new → handshaking → open ⇄ paused → pending → open
 *                          └──────────────────────────→ closed (terminal, with an error or not)
 */
export type ClientSessionState = 'new' | 'handshaking' | 'open' | 'paused' | 'pending' | 'closed';

export type ClientSessionEvent =
  | { type: 'open'; identityPublicKey: Uint8Array; fingerprint: string; firstContact: boolean }
  | { type: 'message'; data: Uint8Array }
  | { type: 'paused' }
  | { type: 'pending' }
  | { type: 'resumed' }
  | { type: 'rate_limited' }
  | { type: 'replay'; seq: bigint }
  | { type: 'pong'; payload: Uint8Array }
  | { type: 'closed'; error?: SbrpError };

export interface ClientSessionOptions {
  daemonId: string;
  sessionId: bigint;
  /** The pinned identity key for this daemon, if any (TOFU, sbrp.md §5). */
  pinnedIdentity?: Uint8Array;
  /** Called with each frame to put on the WebSocket. */
  send: (frame: Uint8Array) => void;
  onEvent: (event: ClientSessionEvent) => void;
  randomBytes?: RandomBytes;
  /** Fixed ephemeral private key, for known-answer tests only. */
  ephemeralPrivateKey?: Uint8Array;
  /**
   * A fresh ephemeral key pair made by the caller for this session alone, so the key
   * generation can overlap a wait (the token request) instead of delaying HandshakeInit.
   * The session owns it from here: it is used once and wiped like one it made itself.
   */
  ephemeral?: EphemeralKeyPair;
  /** ChaCha20-Poly1305 implementation (default: noble). */
  aead?: Aead;
  /** X25519/Ed25519 implementation of the handshake (default: noble; the Node client passes nodeHandshakeCrypto). */
  handshake?: HandshakeCrypto;
  /** Messages held while the daemon is away (session_paused), count and bytes. */
  maxHeldMessages?: number;
  maxHeldBytes?: number;
}

export const CLIENT_SESSION_DEFAULTS = { maxHeldMessages: 1024, maxHeldBytes: 4 * 1024 * 1024 } as const;

export class ClientSession {
  private stateValue: ClientSessionState = 'new';
  private ephemeral?: EphemeralKeyPair;
  private sealer?: DataSealer;
  private opener?: DataOpener;
  private held: Uint8Array[] = [];
  private heldBytes = 0;
  private closeError?: SbrpError;
  readonly identity: { key?: Uint8Array } = {};

  constructor(private readonly options: ClientSessionOptions) {}

  get state(): ClientSessionState {
    return this.stateValue;
  }

  get sessionId(): bigint {
    return this.options.sessionId;
  }

  /** Why the session closed, if it closed on an error. */
  get error(): SbrpError | undefined {
    return this.closeError;
  }

  /** Sends HandshakeInit; call once the WebSocket is open. */
  start(): void {
    if (this.stateValue !== 'new') throw new Error('ClientSession.start() called twice');
    const random = this.options.randomBytes ?? defaultRandomBytes;
    this.ephemeral = this.options.ephemeralPrivateKey
      ? ephemeralFromPrivate(this.options.ephemeralPrivateKey, this.options.handshake)
      : (this.options.ephemeral ?? generateEphemeral(random, this.options.handshake));
    this.stateValue = 'handshaking';
    this.options.send(handshakeInitFrame(this.options.sessionId, this.ephemeral.publicKey));
  }

  /**
   * Sends one application message. While the daemon is away (paused/pending) messages are
   * held, up to a bound, and sealed only on resume so sequence numbers stay in order.
   */
  sendMessage(plaintext: Plaintext): void {
    if (this.stateValue === 'open') {
      this.seal(plaintext);
      return;
    }
    if (this.stateValue === 'paused' || this.stateValue === 'pending') {
      const maxMessages = this.options.maxHeldMessages ?? CLIENT_SESSION_DEFAULTS.maxHeldMessages;
      const maxBytes = this.options.maxHeldBytes ?? CLIENT_SESSION_DEFAULTS.maxHeldBytes;
      const length = plaintextLength(plaintext);
      if (this.held.length >= maxMessages || this.heldBytes + length > maxBytes) {
        throw new SbrpError('backpressure', `session paused and ${this.held.length} messages already held`, this.sessionId);
      }
      // A copy of its own: the caller may reuse its buffers once this returns.
      this.held.push(copyPlaintext(plaintext));
      this.heldBytes += length;
      return;
    }
    throw new SbrpError('session_not_found', `cannot send in state ${this.stateValue}`, this.sessionId);
  }

  /** Handles one WebSocket message from the relay. Never throws: failures close the session. */
  receive(message: Uint8Array): void {
    if (this.stateValue === 'closed') return;
    try {
      this.dispatch(decodeFrame(message));
    } catch (error) {
      this.fail(error instanceof SbrpError ? error : new SbrpError('internal_error', String(error), this.sessionId));
    }
  }

  /** The transport timed out before HandshakeAccept (sbrp.md §2: 30 s from WebSocket open). */
  handshakeTimedOut(): void {
    if (this.stateValue === 'handshaking' || this.stateValue === 'new') {
      this.fail(new SbrpError('handshake_timeout', 'no HandshakeAccept within the handshake timeout', this.sessionId));
    }
  }

  /** The transport closed; idempotent. */
  close(error?: SbrpError): void {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    this.closeError = error;
    this.sealer?.destroy();
    this.opener?.destroy();
    wipe(this.ephemeral?.privateKey, this.options.ephemeral?.privateKey, ...this.held);
    this.held = [];
    this.heldBytes = 0;
    this.options.onEvent(error ? { type: 'closed', error } : { type: 'closed' });
  }

  private fail(error: SbrpError): void {
    this.close(error);
  }

  private dispatch(frame: ReturnType<typeof decodeFrame>): void {
    switch (frame.type) {
      case FrameType.Ping:
        this.options.send(pongFrame(frame.payload.slice()));
        return;
      case FrameType.Pong:
        this.options.onEvent({ type: 'pong', payload: frame.payload.slice() });
        return;
      case FrameType.Control:
        this.onControl(frame.sessionId, parseControl(frame).code);
        return;
    }
    if (frame.sessionId !== this.options.sessionId) {
      throw new SbrpError('session_not_found', `frame for SessionID ${frame.sessionId} on session ${this.sessionId}`, frame.sessionId);
    }
    if (frame.type === FrameType.HandshakeAccept && this.stateValue === 'handshaking') {
      this.onAccept(parseHandshakeAccept(frame));
    } else if (frame.type === FrameType.Data && this.opener && this.stateValue !== 'handshaking') {
      checkDataPayload(frame);
      const result = this.opener.open(frame.payload);
      if (result.kind === 'replay') this.options.onEvent({ type: 'replay', seq: result.seq });
      else this.options.onEvent({ type: 'message', data: result.plaintext });
    } else {
      throw new SbrpError('handshake_failed', `unexpected frame type 0x${frame.type.toString(16)} in state ${this.stateValue}`, frame.sessionId);
    }
  }

  private onAccept(accept: ReturnType<typeof parseHandshakeAccept>): void {
    const { daemonId, pinnedIdentity } = this.options;
    const offered = accept.identityPublicKey;
    // Compare against the pin before anything else, and verify with the pinned key (sbrp.md §2, §5).
    if (pinnedIdentity && !bytesEqual(pinnedIdentity, offered)) {
      throw new IdentityKeyChangedError(daemonId, fingerprint(pinnedIdentity), fingerprint(offered), offered.slice(), this.sessionId);
    }
    const trusted = pinnedIdentity ?? offered;
    const keys = clientHandshake(daemonId, this.ephemeral!, accept, trusted, this.options.handshake);
    this.sealer = new DataSealer(keys.clientToDaemon, Direction.clientToDaemon, this.options.aead);
    this.opener = new DataOpener(keys.daemonToClient, Direction.daemonToClient, this.options.aead);
    this.identity.key = trusted.slice();
    this.stateValue = 'open';
    // The caller pins only now, after the signature verified (sbrp.md §5).
    this.options.onEvent({ type: 'open', identityPublicKey: trusted.slice(), fingerprint: fingerprint(trusted), firstContact: !pinnedIdentity });
  }

  private onControl(sessionId: bigint, code: number): void {
    if (code === ControlCode.rate_limited) {
      this.options.onEvent({ type: 'rate_limited' });
      return;
    }
    if (!isTerminalControl(code, 'client')) {
      const transition = this.stateForControl(code);
      if (transition) {
        this.stateValue = transition;
        if (transition === 'open') this.flushHeld();
        this.options.onEvent({ type: transition === 'open' ? 'resumed' : transition === 'paused' ? 'paused' : 'pending' });
        return;
      }
    }
    throw SbrpError.fromControl(code, sessionId);
  }

  private stateForControl(code: number): 'open' | 'paused' | 'pending' | undefined {
    const ready = this.stateValue !== 'new' && this.stateValue !== 'handshaking';
    if (code === ControlCode.session_paused) return ready ? 'paused' : undefined;
    if (code === ControlCode.session_pending) return ready ? 'pending' : undefined;
    if (code === ControlCode.session_resumed) return ready ? 'open' : undefined;
    return undefined;
  }

  private flushHeld(): void {
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    for (const message of held) this.seal(message);
  }

  private seal(plaintext: Plaintext): void {
    const sealer = this.sealer!;
    if (sealer.exhausted) {
      this.fail(new SbrpError('sequence_error', 'client sequence numbers exhausted', this.sessionId));
      throw this.closeError!;
    }
    this.options.send(sealer.sealFrame(this.options.sessionId, plaintext));
  }
}
