/**
 * The node:crypto handshake backend against every known-answer vector's handshake part (the
 * same files protocol/vectors.test.ts reads: test/vectors/, ../shared/vectors/, SBRP_VECTORS),
 * and against noble across the two ends of a session.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fromHex, toHex } from '../protocol/bytes.js';
import {
  clientHandshake, daemonHandshake, ephemeralFromPrivate, generateEphemeral, nobleHandshakeCrypto, sharedSecret, signaturePayload, transcriptHash, type HandshakeCrypto,
} from '../protocol/handshake.js';
import { SbrpError } from '../protocol/errors.js';
import { nodeHandshakeCrypto } from './handshake-node.js';
import { vectorFiles } from '../test/helpers/vector-files.js';

type Json = Record<string, unknown>;


const hex = (value: unknown): Uint8Array => fromHex(String(value));
const has = (o: Json, key: string): boolean => o[key] !== undefined;

function checkHandshake(h: Json, crypto: HandshakeCrypto): void {
  const daemonId = String(h.daemonId);
  const seed = hex(h.identitySeed);
  const signer = crypto.ed25519Signer(seed);
  if (has(h, 'identityPublicKey')) expect(toHex(signer.publicKey)).toBe(h.identityPublicKey);
  const client = ephemeralFromPrivate(hex(h.clientEphemeralPrivateKey), crypto);
  const daemon = ephemeralFromPrivate(hex(h.daemonEphemeralPrivateKey), crypto);
  if (has(h, 'clientEphemeralPublicKey')) expect(toHex(client.publicKey)).toBe(h.clientEphemeralPublicKey);
  if (has(h, 'daemonEphemeralPublicKey')) expect(toHex(daemon.publicKey)).toBe(h.daemonEphemeralPublicKey);
  if (has(h, 'sharedSecret')) {
    expect(toHex(sharedSecret(client.privateKey, daemon.publicKey, crypto))).toBe(h.sharedSecret);
    expect(toHex(sharedSecret(daemon.privateKey, client.publicKey, crypto))).toBe(h.sharedSecret);
  }
  const result = daemonHandshake(daemonId, signer, client.publicKey, ephemeralFromPrivate(hex(h.daemonEphemeralPrivateKey), crypto), crypto);
  if (has(h, 'signature')) expect(toHex(result.accept.signature)).toBe(h.signature);
  expect(toHex(result.accept.identityPublicKey)).toBe(toHex(signer.publicKey));
  if (has(h, 'transcriptHash')) {
    expect(toHex(transcriptHash(daemonId, client.publicKey, daemon.publicKey, result.accept.signature))).toBe(h.transcriptHash);
  }
  const stated = h.sessionKeys as Json | undefined;
  if (stated) {
    expect(toHex(result.keys.clientToDaemon)).toBe(stated.clientToDaemon);
    expect(toHex(result.keys.daemonToClient)).toBe(stated.daemonToClient);
  }
  // The seed form (a signer made per call) gives the same Accept.
  const again = daemonHandshake(daemonId, seed, client.publicKey, ephemeralFromPrivate(hex(h.daemonEphemeralPrivateKey), crypto), crypto);
  expect(toHex(again.accept.signature)).toBe(toHex(result.accept.signature));
  // The client end, on this backend and on the other one, derives the same keys.
  for (const verifier of [crypto, nobleHandshakeCrypto, nodeHandshakeCrypto]) {
    const keys = clientHandshake(daemonId, ephemeralFromPrivate(hex(h.clientEphemeralPrivateKey), verifier), result.accept, signer.publicKey, verifier);
    expect(toHex(keys.daemonToClient)).toBe(toHex(result.keys.daemonToClient));
    expect(toHex(keys.clientToDaemon)).toBe(toHex(result.keys.clientToDaemon));
  }
}

const BACKENDS: [string, HandshakeCrypto][] = [['noble', nobleHandshakeCrypto], ['node:crypto', nodeHandshakeCrypto]];

describe('handshake backends', () => {
  const files = vectorFiles();
  it('finds the vector files', () => expect(files.length).toBeGreaterThan(0));
  let count = 0;
  for (const file of files) {
    const doc = JSON.parse(readFileSync(file, 'utf8')) as Json;
    for (const h of (doc.handshakes ?? []) as Json[]) {
      count++;
      for (const [name, crypto] of BACKENDS) {
        it(`${file.slice(file.lastIndexOf('/') + 1)} ${String(h.label)} (${name})`, () => checkHandshake(h, crypto));
      }
    }
  }
  it('runs at least one handshake vector', () => expect(count).toBeGreaterThan(0));

  it('agrees with noble on random keys', () => {
    for (let i = 0; i < 20; i++) {
      const a = randomBytes(32);
      const b = randomBytes(32);
      const seed = randomBytes(32);
      const message = randomBytes(32);
      expect(toHex(nodeHandshakeCrypto.x25519PublicKey(a))).toBe(toHex(nobleHandshakeCrypto.x25519PublicKey(a)));
      const pubB = nobleHandshakeCrypto.x25519PublicKey(b);
      expect(toHex(nodeHandshakeCrypto.x25519(a, pubB))).toBe(toHex(nobleHandshakeCrypto.x25519(a, pubB)));
      const nodeSigner = nodeHandshakeCrypto.ed25519Signer(seed);
      const nobleSigner = nobleHandshakeCrypto.ed25519Signer(seed);
      expect(toHex(nodeSigner.publicKey)).toBe(toHex(nobleSigner.publicKey));
      const signature = nodeSigner.sign(message);
      expect(toHex(signature)).toBe(toHex(nobleSigner.sign(message)));
      expect(nodeHandshakeCrypto.ed25519Verify(signature, message, nodeSigner.publicKey)).toBe(true);
      expect(nobleHandshakeCrypto.ed25519Verify(signature, message, nodeSigner.publicKey)).toBe(true);
    }
  });

  it('refuses what noble refuses: bad signatures, malformed keys, low-order points', () => {
    const seed = randomBytes(32);
    const signer = nodeHandshakeCrypto.ed25519Signer(seed);
    const message = randomBytes(32);
    const signature = signer.sign(message);
    const flipped = signature.slice();
    flipped[0]! ^= 1;
    for (const [, crypto] of BACKENDS) {
      expect(crypto.ed25519Verify(flipped, message, signer.publicKey)).toBe(false);
      expect(crypto.ed25519Verify(signature.subarray(0, 63), message, signer.publicKey)).toBe(false);
      expect(crypto.ed25519Verify(signature, message, new Uint8Array(31))).toBe(false);
      // An all-zero X25519 public key has low order: the shared secret would be zero.
      expect(() => sharedSecret(randomBytes(32), new Uint8Array(32), crypto)).toThrow(SbrpError);
      // u = 1 is of small order too.
      const one = new Uint8Array(32);
      one[0] = 1;
      expect(() => sharedSecret(randomBytes(32), one, crypto)).toThrow(SbrpError);
    }
  });

  it('generates ephemerals inside OpenSSL that agree with noble and refuse low-order peers (x25519Generate)', () => {
    const seed = randomBytes(32);
    const signer = nodeHandshakeCrypto.ed25519Signer(seed);
    for (let i = 0; i < 10; i++) {
      const client = generateEphemeral(randomBytes, nodeHandshakeCrypto);
      expect(client.privateKey.length).toBe(0); // never copied out of OpenSSL
      const daemonPrivate = randomBytes(32);
      const daemon = ephemeralFromPrivate(daemonPrivate, nobleHandshakeCrypto);
      expect(toHex(client.agree!(daemon.publicKey))).toBe(toHex(nobleHandshakeCrypto.x25519(daemonPrivate, client.publicKey)));
      // A whole session: a node-generated daemon ephemeral, a node-generated client one.
      const result = daemonHandshake('d', signer, client.publicKey, generateEphemeral(randomBytes, nodeHandshakeCrypto), nodeHandshakeCrypto);
      const keys = clientHandshake('d', client, result.accept, signer.publicKey, nodeHandshakeCrypto);
      expect(toHex(keys.clientToDaemon)).toBe(toHex(result.keys.clientToDaemon));
    }
    const one = new Uint8Array(32);
    one[0] = 1;
    for (const bad of [new Uint8Array(32), one]) {
      const accept = { identityPublicKey: signer.publicKey, daemonEphemeral: bad, signature: new Uint8Array(64) as Uint8Array };
      const client = generateEphemeral(randomBytes, nodeHandshakeCrypto);
      accept.signature = signer.sign(signaturePayload('d', client.publicKey, bad));
      expect(() => clientHandshake('d', client, accept, signer.publicKey, nodeHandshakeCrypto)).toThrow(SbrpError);
    }
  });

  it('signs the payload both backends verify', () => {
    const digest = signaturePayload('d', randomBytes(32), randomBytes(32));
    const signer = nodeHandshakeCrypto.ed25519Signer(randomBytes(32));
    expect(nobleHandshakeCrypto.ed25519Verify(signer.sign(digest), digest, signer.publicKey)).toBe(true);
  });
});
