/**
 * Hot paths of the protocol core against their floor: sealing/opening a Data frame against
 * the bare noble ChaCha20-Poly1305 call it wraps (the overhead is framing, counters and the
 * replay window), and frame decoding against a plain DataView read of the same header.
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { DataOpener, DataSealer, Direction } from '../protocol/data-cipher.js';
import { decodeFrame, encodeFrame } from '../protocol/frame-codec.js';
import { FrameType } from '../protocol/codes.js';
import { createCipheriv } from 'node:crypto';
import { measure, report } from './measure.js';
import { nodeAead } from '../node/aead-node.js';

export function protocolBenchmarks(): void {
  for (const size of [64, 16 * 1024, 65508]) {
    const key = new Uint8Array(32).fill(1);
    const plaintext = new Uint8Array(size).fill(2);
    const nonce = new Uint8Array(12);
    const baseline = measure(`noble chacha20poly1305 encrypt ${size} B`, () => {
      chacha20poly1305(key, nonce).encrypt(plaintext);
    }, { bytesPerOp: size });
    const sealer = new DataSealer(key.slice(), Direction.clientToDaemon);
    const seal = measure(`DataSealer.sealFrame ${size} B`, () => {
      sealer.sealFrame(1n, plaintext);
    }, { bytesPerOp: size });
    // Open needs frames in order: pre-seal a batch and replay it through fresh openers.
    const batch: Uint8Array[] = [];
    const batchSealer = new DataSealer(key.slice(), Direction.clientToDaemon);
    for (let i = 0; i < 256; i++) batch.push(batchSealer.seal(plaintext));
    let opener = new DataOpener(key.slice(), Direction.clientToDaemon);
    let index = 0;
    const open = measure(`DataOpener.open (auth + window) ${size} B`, () => {
      if (index === batch.length) {
        opener = new DataOpener(key.slice(), Direction.clientToDaemon);
        index = 0;
      }
      opener.open(batch[index++]!);
    }, { bytesPerOp: size });
    const sealedOnce = chacha20poly1305(key, nonce).encrypt(plaintext);
    const decryptBaseline = measure(`noble chacha20poly1305 decrypt ${size} B`, () => {
      chacha20poly1305(key, nonce).decrypt(sealedOnce);
    }, { bytesPerOp: size });
    // For reference: OpenSSL's implementation through node:crypto (what a Node-only fast path could use).
    const openssl = measure(`node:crypto chacha20-poly1305 encrypt ${size} B`, () => {
      const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
      cipher.update(plaintext);
      cipher.final();
      cipher.getAuthTag();
    }, { bytesPerOp: size });
    const nodeSealer = new DataSealer(key.slice(), Direction.clientToDaemon, nodeAead);
    const nodeSeal = measure(`DataSealer.sealFrame (nodeAead) ${size} B`, () => {
      nodeSealer.sealFrame(1n, plaintext);
    }, { bytesPerOp: size });
    report(`Data frame seal, ${size}-byte plaintext`, baseline, [seal, openssl, nodeSeal]);
    let nodeOpener = new DataOpener(key.slice(), Direction.clientToDaemon, nodeAead);
    let nodeIndex = 0;
    const nodeOpen = measure(`DataOpener.open (nodeAead) ${size} B`, () => {
      if (nodeIndex === batch.length) {
        nodeOpener = new DataOpener(key.slice(), Direction.clientToDaemon, nodeAead);
        nodeIndex = 0;
      }
      nodeOpener.open(batch[nodeIndex++]!);
    }, { bytesPerOp: size });
    report(`Data frame open, ${size}-byte plaintext`, decryptBaseline, [open, nodeOpen]);
  }

  const frame = encodeFrame(FrameType.Data, 7n, new Uint8Array(1024));
  const baseline = measure('DataView header read', () => {
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    view.getUint8(0);
    view.getUint32(1);
    view.getBigUint64(5);
    frame.subarray(13);
  });
  const decode = measure('decodeFrame (validation steps 1–4)', () => {
    decodeFrame(frame);
  });
  report('Frame header decode', baseline, [decode]);
}
