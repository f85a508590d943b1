/**
 * Hot paths of the protocol core against their floor: sealing/opening a Data frame against
 * the bare noble ChaCha20-Poly1305 call it wraps (the overhead is framing, counters and the
 * replay window), and frame decoding against a plain DataView read of the same header. The
 * OpenSSL variants (node:crypto, what the Node client and daemon use through `nodeAead`) are
 * figures against the same noble baseline.
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { DataOpener, DataSealer, Direction } from '../protocol/data-cipher.js';
import { decodeFrame, encodeFrame } from '../protocol/frame-codec.js';
import { FrameType } from '../protocol/codes.js';
import { createCipheriv } from 'node:crypto';
import { measure } from './measure.js';
import { nodeAead } from '../node/aead-node.js';
import { summarize, type BenchFigure, type BenchOptions } from './figure.js';

interface Variant {
  id: string;
  name: string;
  fn: () => void;
  bytesPerOp?: number;
}

/**
 * Measures `baseline` and `variants` in alternating rounds (a time budget each) and returns one
 * figure per variant: MB/s (or ops/s without a size), median over rounds, against the
 * baseline's median.
 */
function compare(group: string, baseline: Variant, variants: Variant[], options: BenchOptions, target?: BenchFigure['target']): BenchFigure[] {
  const rounds = options.quick ? 1 : 3;
  const ms = options.quick ? 20 : 400;
  const warmup = options.quick ? 5 : 50;
  const all = [baseline, ...variants];
  const samples = new Map<Variant, number[]>(all.map((v) => [v, []]));
  for (let round = 0; round < rounds; round++) {
    for (const v of all) {
      const m = measure(v.name, v.fn, { ms, warmup, bytesPerOp: v.bytesPerOp });
      samples.get(v)!.push(v.bytesPerOp ? (m.opsPerSecond * v.bytesPerOp) / 1e6 : m.opsPerSecond);
    }
  }
  const base = summarize(samples.get(baseline)!).median;
  return variants.map((v) => {
    const { median, spread } = summarize(samples.get(v)!);
    return {
      id: v.id,
      group,
      name: v.name,
      unit: v.bytesPerOp ? 'MB/s' : 'ops/s',
      value: median,
      spread,
      rounds,
      baseline: { name: baseline.name, value: base },
      ...(target ? { target } : {}),
      note: `${ms} ms per measurement after ${warmup} warm-up calls, in this process`,
    };
  });
}

export function protocolBenchmarks(options: BenchOptions = { quick: false }): BenchFigure[] {
  const figures: BenchFigure[] = [];
  for (const size of [64, 16 * 1024, 65508]) {
    const key = new Uint8Array(32).fill(1);
    const plaintext = new Uint8Array(size).fill(2);
    const nonce = new Uint8Array(12);
    const sealer = new DataSealer(key.slice(), Direction.clientToDaemon);
    const nodeSealer = new DataSealer(key.slice(), Direction.clientToDaemon, nodeAead);
    const innerHeader = plaintext.subarray(0, 5);
    const body = plaintext.subarray(5);
    const pieces = [innerHeader, body];
    figures.push(
      ...compare(
        'protocol',
        { id: `protocol.seal.${size}.noble`, name: `noble chacha20poly1305 encrypt ${size} B`, fn: () => void chacha20poly1305(key, nonce).encrypt(plaintext), bytesPerOp: size },
        [
          { id: `protocol.seal.${size}`, name: `DataSealer.sealFrame ${size} B`, fn: () => void sealer.sealFrame(1n, plaintext), bytesPerOp: size },
          {
            // For reference: OpenSSL's implementation through node:crypto (the floor of the Node fast path).
            id: `protocol.seal.${size}.openssl`,
            name: `node:crypto chacha20-poly1305 encrypt ${size} B`,
            fn: () => {
              const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
              cipher.update(plaintext);
              cipher.final();
              cipher.getAuthTag();
            },
            bytesPerOp: size,
          },
          { id: `protocol.seal.${size}.node-aead`, name: `DataSealer.sealFrame (nodeAead) ${size} B`, fn: () => void nodeSealer.sealFrame(1n, plaintext), bytesPerOp: size },
          {
            // What a sender of an inner header and a body view pays: joining them first (a fresh
            // buffer and a copy), against handing the pieces to the cipher as they are.
            id: `protocol.seal.${size}.node-aead-joined`,
            name: `inner header + body joined, then sealFrame (nodeAead) ${size} B`,
            fn: () => {
              const joined = new Uint8Array(size);
              joined.set(innerHeader);
              joined.set(body, innerHeader.length);
              nodeSealer.sealFrame(1n, joined);
            },
            bytesPerOp: size,
          },
          { id: `protocol.seal.${size}.node-aead-pieces`, name: `sealFrame from inner header + body pieces (nodeAead) ${size} B`, fn: () => void nodeSealer.sealFrame(1n, pieces), bytesPerOp: size },
        ],
        options,
      ),
    );

    // Open needs frames in order: pre-seal a batch and replay it through fresh openers.
    const batch: Uint8Array[] = [];
    const batchSealer = new DataSealer(key.slice(), Direction.clientToDaemon);
    for (let i = 0; i < 256; i++) batch.push(batchSealer.seal(plaintext));
    const replay = (aead?: typeof nodeAead) => {
      let opener = new DataOpener(key.slice(), Direction.clientToDaemon, aead);
      let index = 0;
      return () => {
        if (index === batch.length) {
          opener = new DataOpener(key.slice(), Direction.clientToDaemon, aead);
          index = 0;
        }
        opener.open(batch[index++]!);
      };
    };
    const sealedOnce = chacha20poly1305(key, nonce).encrypt(plaintext);
    figures.push(
      ...compare(
        'protocol',
        { id: `protocol.open.${size}.noble`, name: `noble chacha20poly1305 decrypt ${size} B`, fn: () => void chacha20poly1305(key, nonce).decrypt(sealedOnce), bytesPerOp: size },
        [
          { id: `protocol.open.${size}`, name: `DataOpener.open (auth + window) ${size} B`, fn: replay(), bytesPerOp: size },
          { id: `protocol.open.${size}.node-aead`, name: `DataOpener.open (nodeAead) ${size} B`, fn: replay(nodeAead), bytesPerOp: size },
        ],
        options,
      ),
    );
  }

  const frame = encodeFrame(FrameType.Data, 7n, new Uint8Array(1024));
  figures.push(
    ...compare(
      'protocol',
      {
        id: 'protocol.decode.dataview',
        name: 'DataView header read',
        fn: () => {
          const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
          view.getUint8(0);
          view.getUint32(1);
          view.getBigUint64(5);
          frame.subarray(13);
        },
      },
      [{ id: 'protocol.decode', name: 'decodeFrame (validation steps 1–4)', fn: () => void decodeFrame(frame) }],
      options,
    ),
  );
  return figures;
}
