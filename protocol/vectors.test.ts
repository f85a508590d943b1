/**
 * Known-answer vectors (style.md §10): every JSON file in test/vectors/, in ../shared/vectors/,
 * and every path in SBRP_VECTORS (comma-separated), all in the schema of
 * shared/vectors/sbrp-public.json. Every field a vector states is checked; a vector naming an
 * `error` must be rejected with exactly that code.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, toHex } from './bytes.js';
import { decodeFrame, encodeFrame, validateFromSender } from './frame-codec.js';
import { checkDataPayload, handshakeAcceptFrame, handshakeInitFrame, parseControl, parseHandshakeAccept, parseHandshakeInit, parseSignal } from './frames.js';
import {
  clientHandshake, daemonHandshake, deriveSessionKeys, ephemeralFromPrivate, sharedSecret, signaturePayload, transcriptHash,
} from './handshake.js';
import { DataSealer, Direction, openData, sealData } from './data-cipher.js';
import { fingerprint } from './fingerprint.js';
import { FrameType } from './codes.js';
import { SbrpError } from './errors.js';
import { nobleAead, type Aead } from './aead.js';
import { nodeAead } from '../node/aead-node.js';
import { vectorFiles } from '../test/helpers/vector-files.js';

/** Every ChaCha20-Poly1305 implementation the project ships must reproduce every vector. */
const AEADS: [string, Aead][] = [['noble', nobleAead], ['node:crypto', nodeAead]];



const files = vectorFiles();

it('finds the shared public vectors and the project vectors', () => {
  expect(files.some((f) => f.endsWith('sbrp-public.json'))).toBe(true);
  expect(files.some((f) => f.endsWith('sbrp-validation.json'))).toBe(true);
  for (const path of (process.env.SBRP_VECTORS ?? '').split(',').filter((p) => p.trim())) {
    expect(existsSync(resolve(path.trim())), `SBRP_VECTORS names ${path}`).toBe(true);
  }
});

type Json = Record<string, unknown>;
const hex = (value: unknown) => fromHex(String(value));
const has = (obj: Json, key: string) => obj[key] !== undefined && obj[key] !== null;

/** pattern-N plaintexts: byte[i] = i % 251 (sbrp-public.json conventions). */
function plaintextOf(entry: Json): Uint8Array {
  if (has(entry, 'plaintext')) return hex(entry.plaintext);
  const match = /^pattern-(\d+)/.exec(String(entry.plaintextLabel ?? ''));
  const length = match ? Number(match[1]) : Number(entry.plaintextLength);
  if (!Number.isInteger(length)) throw new Error(`vector ${String(entry.plaintextLabel)} has no plaintext`);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = i % 251;
  return out;
}

function expectCode(fn: () => unknown, code: string, sessionId?: unknown): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `expected ${code}`).toBeInstanceOf(SbrpError);
  expect((thrown as SbrpError).code).toBe(code);
  if (sessionId !== undefined) expect((thrown as SbrpError).sessionId).toBe(BigInt(String(sessionId)));
}

function checkHandshake(h: Json): void {
  const daemonId = String(h.daemonId);
  const sessionId = BigInt(String(h.sessionId));
  if (has(h, 'daemonIdUtf8')) expect(toHex(new TextEncoder().encode(daemonId))).toBe(h.daemonIdUtf8);
  if (has(h, 'sessionIdHex')) expect(sessionId.toString(16).padStart(16, '0')).toBe(h.sessionIdHex);
  const seed = hex(h.identitySeed);
  const identity = ed25519.getPublicKey(seed);
  if (has(h, 'identityPublicKey')) expect(toHex(identity)).toBe(h.identityPublicKey);
  if (has(h, 'identityFingerprint')) expect(fingerprint(identity)).toBe(h.identityFingerprint);
  const client = ephemeralFromPrivate(hex(h.clientEphemeralPrivateKey));
  const daemon = ephemeralFromPrivate(hex(h.daemonEphemeralPrivateKey));
  if (has(h, 'clientEphemeralPublicKey')) expect(toHex(client.publicKey)).toBe(h.clientEphemeralPublicKey);
  if (has(h, 'daemonEphemeralPublicKey')) expect(toHex(daemon.publicKey)).toBe(h.daemonEphemeralPublicKey);
  if (has(h, 'sharedSecret')) {
    expect(toHex(sharedSecret(client.privateKey, daemon.publicKey))).toBe(h.sharedSecret);
    expect(toHex(sharedSecret(daemon.privateKey, client.publicKey))).toBe(h.sharedSecret);
  }
  const digest = signaturePayload(daemonId, client.publicKey, daemon.publicKey);
  if (has(h, 'signaturePayloadHash')) expect(toHex(digest)).toBe(h.signaturePayloadHash);

  // Daemon side produces the Accept; the client side verifies it and must derive the same keys.
  const daemonResult = daemonHandshake(daemonId, seed, client.publicKey, ephemeralFromPrivate(hex(h.daemonEphemeralPrivateKey)));
  if (has(h, 'signature')) expect(toHex(daemonResult.accept.signature)).toBe(h.signature);
  const signature = daemonResult.accept.signature;
  const transcript = transcriptHash(daemonId, client.publicKey, daemon.publicKey, signature);
  if (has(h, 'transcriptHash')) expect(toHex(transcript)).toBe(h.transcriptHash);
  const keys = has(h, 'sharedSecret') ? deriveSessionKeys(hex(h.sharedSecret), transcript) : daemonResult.keys;
  const stated = h.sessionKeys as Json | undefined;
  if (stated) {
    expect(toHex(keys.clientToDaemon)).toBe(stated.clientToDaemon);
    expect(toHex(keys.daemonToClient)).toBe(stated.daemonToClient);
  }
  expect(toHex(daemonResult.keys.clientToDaemon)).toBe(toHex(keys.clientToDaemon));
  const clientKeys = clientHandshake(daemonId, ephemeralFromPrivate(hex(h.clientEphemeralPrivateKey)), daemonResult.accept, identity);
  expect(toHex(clientKeys.daemonToClient)).toBe(toHex(keys.daemonToClient));

  const frames = (h.frames ?? {}) as Json;
  const init = handshakeInitFrame(sessionId, client.publicKey);
  const accept = handshakeAcceptFrame(sessionId, daemonResult.accept);
  if (has(frames, 'handshakeInit')) {
    expect(toHex(init)).toBe(frames.handshakeInit);
    expect(toHex(parseHandshakeInit(decodeFrame(hex(frames.handshakeInit))))).toBe(toHex(client.publicKey));
  }
  if (has(frames, 'handshakeAccept')) {
    expect(toHex(accept)).toBe(frames.handshakeAccept);
    const parsed = parseHandshakeAccept(decodeFrame(hex(frames.handshakeAccept)));
    expect(toHex(parsed.identityPublicKey)).toBe(toHex(identity));
  }

  for (const entry of (h.data ?? []) as Json[]) checkData(entry, sessionId, keys);
}

function checkData(entry: Json, sessionId: bigint, keys: { clientToDaemon: Uint8Array; daemonToClient: Uint8Array }): void {
  const c2d = entry.direction === 'c2d';
  const key = c2d ? keys.clientToDaemon : keys.daemonToClient;
  const direction = c2d ? Direction.clientToDaemon : Direction.daemonToClient;
  const seq = BigInt(String(entry.seq));
  if (has(entry, 'seqHex')) expect(seq.toString(16).padStart(16, '0')).toBe(entry.seqHex);
  if (has(entry, 'error')) {
    // A payload that must be refused: it comes as stated bytes, not as something we encrypt.
    for (const [, aead] of AEADS) {
      const payload = has(entry, 'payload') ? hex(entry.payload) : decodeFrame(hex(entry.frame)).payload;
      expectCode(() => openData(key, direction, payload, aead), String(entry.error));
    }
    return;
  }
  const plaintext = plaintextOf(entry);
  for (const [, aead] of AEADS) {
    if (has(entry, 'plaintextLength')) expect(plaintext.length).toBe(Number(entry.plaintextLength));
    if (has(entry, 'plaintextSha256Hex')) expect(toHex(sha256(plaintext))).toBe(entry.plaintextSha256Hex);
    const payload = sealData(key, direction, seq, plaintext, aead);
    if (has(entry, 'nonce')) expect(toHex(payload.subarray(0, 12))).toBe(entry.nonce);
    if (has(entry, 'payload')) expect(toHex(payload)).toBe(entry.payload);
    if (has(entry, 'tag')) expect(toHex(payload.subarray(payload.length - 16))).toBe(entry.tag);
    const frame = encodeFrame(FrameType.Data, sessionId, payload);
    if (has(entry, 'frameLength')) expect(frame.length).toBe(Number(entry.frameLength));
    if (has(entry, 'frame')) expect(toHex(frame)).toBe(entry.frame);
    if (has(entry, 'frameSha256Hex')) expect(toHex(sha256(frame))).toBe(entry.frameSha256Hex);
    // The endpoints' send path builds the frame in one buffer; it must give the same bytes.
    const sealer = new DataSealer(key.slice(), direction, aead);
    sealer.jumpTo(seq);
    expect(toHex(sealer.sealFrame(sessionId, plaintext))).toBe(toHex(frame));
    // From pieces (an inner header, an empty piece, the rest): the same bytes, never joined first.
    const pieces = [plaintext.subarray(0, 5), new Uint8Array(0), plaintext.subarray(5)];
    sealer.jumpTo(seq);
    expect(toHex(sealer.sealFrame(sessionId, pieces))).toBe(toHex(frame));
    // And back: the stated frame (or ours, when only its hash is stated) decrypts to the plaintext.
    const decoded = decodeFrame(has(entry, 'frame') ? hex(entry.frame) : frame);
    checkDataPayload(decoded);
    const opened = openData(key, direction, decoded.payload, aead);
    expect(opened.seq).toBe(seq);
    expect(toHex(opened.plaintext)).toBe(toHex(plaintext));
    const tampered = decoded.payload.slice();
    tampered[tampered.length - 1]! ^= 1;
    expectCode(() => openData(key, direction, tampered, aead), 'decrypt_failed');
    // The other direction's nonce must not open with this key (direction bytes are checked).
    expectCode(() => openData(key, c2d ? Direction.daemonToClient : Direction.clientToDaemon, decoded.payload, aead), 'decrypt_failed');
  }
}

const ENDPOINT_PARSERS: Record<string, (frame: ReturnType<typeof decodeFrame>) => unknown> = {
  handshakeAccept: parseHandshakeAccept,
  handshakeInit: parseHandshakeInit,
  data: checkDataPayload,
  signal: parseSignal,
  control: parseControl,
};

function checkFrame(entry: Json): void {
  const bytes = hex(entry.frame);
  const sender = entry.sender as 'client' | 'daemon' | undefined;
  const decode = () => {
    const frame = sender ? validateFromSender(bytes, sender) : decodeFrame(bytes);
    if (has(entry, 'parse')) ENDPOINT_PARSERS[String(entry.parse)]!(frame);
    return frame;
  };
  if (has(entry, 'error')) {
    expectCode(decode, String(entry.error), entry.sessionId);
    return;
  }
  const frame = decode();
  expect(toHex(encodeFrame(frame.type, frame.sessionId, frame.payload))).toBe(toHex(bytes));
  const decoded = entry.decoded as Json | undefined;
  if (!decoded) return;
  if (frame.type === FrameType.Signal) expect(parseSignal(frame)).toEqual({ signal: decoded.signal, reason: decoded.reason });
  if (frame.type === FrameType.Control) expect(parseControl(frame)).toEqual({ code: decoded.code, message: decoded.message ?? '' });
}

for (const file of files) {
  describe(`vectors ${file.slice(file.lastIndexOf('/') + 1)}`, () => {
    const doc = JSON.parse(readFileSync(file, 'utf8')) as Json;
    const handshakes = (doc.handshakes ?? []) as Json[];
    const groups = Object.entries((doc.frames ?? {}) as Record<string, Json[]>);
    it('holds at least one vector', () => {
      expect(handshakes.length + groups.reduce((n, [, g]) => n + g.length, 0)).toBeGreaterThan(0);
    });
    for (const h of handshakes) it(`handshake ${String(h.label)}`, () => checkHandshake(h));
    for (const [group, entries] of groups) {
      for (const entry of entries) it(`${group}: ${String(entry.label)}`, () => checkFrame(entry));
    }
  });
}
