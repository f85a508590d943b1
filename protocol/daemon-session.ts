import { SignalCode, SignalReason } from './codes.js';
import { handshakeAcceptFrame, signalFrame } from './frames.js';
import { daemonHandshake, ephemeralFromPrivate, generateEphemeral, type EphemeralKeyPair, type HandshakeCrypto, type IdentitySigner, type RandomBytes } from './handshake.js';
import { DataOpener, DataSealer, Direction, type OpenResult } from './data-cipher.js';
import { SbrpError } from './errors.js';
import type { Aead, Plaintext } from './aead.js';

/**
 * Daemon side of one SBRP session: answers HandshakeInit, then seals and opens Data frames
 * with its own keys, counters and replay window (sbrp.md §2). Kept across a relay reconnect
 * within grace so the session resumes with the same keys and counters (sbrp.md §4).
 */
export interface DaemonSessionOptions {
  daemonId: string;
  sessionId: bigint;
  identitySeed: Uint8Array;
  send: (frame: Uint8Array) => void;
  randomBytes: RandomBytes;
  /** Fixed ephemeral private key, for known-answer tests only. */
  ephemeralPrivateKey?: Uint8Array;
  /** ChaCha20-Poly1305 implementation (default: noble). */
  aead?: Aead;
  /** X25519/Ed25519 implementation of the handshake (default: noble). */
  handshake?: HandshakeCrypto;
  /** `identitySeed` prepared once (DaemonEndpoint shares one across sessions); signs instead of the seed. */
  identity?: IdentitySigner;
}

export class DaemonSession {
  private sealer?: DataSealer;
  private opener?: DataOpener;
  private closed = false;
  readonly sessionId: bigint;

  constructor(private readonly options: DaemonSessionOptions) {
    this.sessionId = options.sessionId;
  }

  get isOpen(): boolean {
    return !this.closed && this.sealer !== undefined;
  }

  /**
   * Answers a HandshakeInit with HandshakeAccept; the session is open once sent. `ahead` is a
   * fresh key pair made for this session in idle time (DaemonEndpoint keeps one ready); this
   * session uses it once and wipes it. Without it, the key is made now.
   */
  accept(clientEphemeral: Uint8Array, ahead?: EphemeralKeyPair): void {
    if (this.sealer || this.closed) throw new SbrpError('handshake_failed', 'HandshakeInit on an established session', this.sessionId);
    const crypto = this.options.handshake;
    const ephemeral = this.options.ephemeralPrivateKey
      ? ephemeralFromPrivate(this.options.ephemeralPrivateKey, crypto)
      : (ahead ?? generateEphemeral(this.options.randomBytes, crypto));
    const { accept, keys } = daemonHandshake(this.options.daemonId, this.options.identity ?? this.options.identitySeed, clientEphemeral, ephemeral, crypto);
    this.sealer = new DataSealer(keys.daemonToClient, Direction.daemonToClient, this.options.aead);
    this.opener = new DataOpener(keys.clientToDaemon, Direction.clientToDaemon, this.options.aead);
    this.options.send(handshakeAcceptFrame(this.sessionId, accept));
  }

  /** Authenticates one Data payload from the client. Throws SbrpError on failure. */
  open(payload: Uint8Array): OpenResult {
    if (!this.opener || this.closed) throw new SbrpError('session_not_found', 'Data before handshake', this.sessionId);
    return this.opener.open(payload);
  }

  /** Seals and sends one message to the client, whole or in pieces ({@link Plaintext}). */
  sendMessage(plaintext: Plaintext): void {
    if (!this.sealer || this.closed) throw new SbrpError('session_not_found', 'session is not open', this.sessionId);
    if (this.sealer.exhausted) {
      throw new SbrpError('sequence_error', 'daemon sequence numbers exhausted; session must re-handshake', this.sessionId);
    }
    this.options.send(this.sealer.sealFrame(this.sessionId, plaintext));
  }

  /**
   * The integrity check before Signal(ready) on resume (sbrp.md §4): both directions have
   * keys and sane counters. Anything missing or inconsistent means state_lost.
   */
  isIntact(): boolean {
    if (this.closed || !this.sealer || !this.opener) return false;
    if (this.sealer.exhausted) return false;
    return this.opener.expected >= 0n && this.sealer.sequence >= 0n;
  }

  /** After a relay reconnect: Signal(ready) if intact, else Signal(close, state_lost). Returns ready. */
  signalResume(): boolean {
    const intact = this.isIntact();
    this.options.send(
      intact
        ? signalFrame(this.sessionId, SignalCode.ready, SignalReason.none)
        : signalFrame(this.sessionId, SignalCode.close, SignalReason.state_lost),
    );
    if (!intact) this.destroy();
    return intact;
  }

  /** Ends the session towards the client with Signal(close, reason), then forgets it. */
  signalClose(reason: number = SignalReason.none): void {
    if (this.closed) return;
    this.options.send(signalFrame(this.sessionId, SignalCode.close, reason));
    this.destroy();
  }

  /** Zeroes all key material; idempotent (sbrp.md §2). */
  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.sealer?.destroy();
    this.opener?.destroy();
  }

  /** Test hook: move the outbound counter (exhaustion tests). */
  jumpSendSequence(seq: bigint): void {
    this.sealer?.jumpTo(seq);
  }
}
