/**
 * Generates `sbrp-node-crypto.json`: SBRP known-answer vectors computed with Node's own
 * OpenSSL-backed `node:crypto` (X25519, Ed25519, HKDF, ChaCha20-Poly1305), an implementation
 * independent of the @noble libraries the protocol core uses. It imports nothing from
 * protocol/, so a shared bug cannot make both sides agree. Run: `npx tsx test/vectors/generate-with-node-crypto.ts`.
 * Keys are derived from SHA-256 of fixed labels so the file is reproducible.
 */
import { createCipheriv, createHash, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, sign } from 'node:crypto';
import { writeFileSync } from 'node:fs';

const sha256 = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
const seedFrom = (label: string) => sha256(Buffer.from(label));
const hex = (b: Buffer) => b.toString('hex');

const ED_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const X_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X_SPKI = Buffer.from('302a300506032b656e032100', 'hex');

const edPrivate = (seed: Buffer) => createPrivateKey({ key: Buffer.concat([ED_PKCS8, seed]), format: 'der', type: 'pkcs8' });
const xPrivate = (priv: Buffer) => createPrivateKey({ key: Buffer.concat([X_PKCS8, priv]), format: 'der', type: 'pkcs8' });
const rawPublic = (key: ReturnType<typeof createPrivateKey>) =>
  (createPublicKey(key).export({ format: 'der', type: 'spki' }) as Buffer).subarray(12);

function frame(type: number, sid: bigint, payload: Buffer): Buffer {
  const head = Buffer.alloc(13);
  head.writeUInt8(type, 0);
  head.writeUInt32BE(payload.length, 1);
  head.writeBigUInt64BE(sid, 5);
  return Buffer.concat([head, payload]);
}

function nonce(direction: number, seq: bigint): Buffer {
  const n = Buffer.alloc(12);
  n.writeUInt32BE(direction, 0);
  n.writeBigUInt64BE(seq, 4);
  return n;
}

function pattern(n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = i % 251;
  return out;
}

function fingerprint(key: Buffer): string {
  return 'SHA256:' + [...sha256(key)].map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join(':');
}

function handshake(label: string, daemonId: string, sid: bigint, messages: { dir: 'c2d' | 'd2c'; seq: bigint; plaintext: Buffer; label: string; omit?: boolean }[]) {
  const identitySeed = seedFrom(`${label}/identity`);
  const clientPriv = seedFrom(`${label}/client-ephemeral`);
  const daemonPriv = seedFrom(`${label}/daemon-ephemeral`);
  const identity = edPrivate(identitySeed);
  const identityPublicKey = rawPublic(identity);
  const clientPub = rawPublic(xPrivate(clientPriv));
  const daemonPub = rawPublic(xPrivate(daemonPriv));
  const id = Buffer.from(daemonId, 'utf8');
  const signaturePayloadHash = sha256(Buffer.from('sbrp-v1-handshake'), id, clientPub, daemonPub);
  const signature = sign(null, signaturePayloadHash, identity);
  const transcriptHash = sha256(Buffer.from('sbrp-v1-transcript'), id, clientPub, daemonPub, signature);
  const shared = diffieHellman({ privateKey: xPrivate(clientPriv), publicKey: createPublicKey({ key: Buffer.concat([X_SPKI, daemonPub]), format: 'der', type: 'spki' }) });
  const okm = Buffer.from(hkdfSync('sha256', shared, transcriptHash, Buffer.from('sbrp-session-keys'), 64));
  const keys = { clientToDaemon: okm.subarray(0, 32), daemonToClient: okm.subarray(32, 64) };
  const data = messages.map((m) => {
    const key = m.dir === 'c2d' ? keys.clientToDaemon : keys.daemonToClient;
    const n = nonce(m.dir === 'c2d' ? 1 : 2, m.seq);
    const cipher = createCipheriv('chacha20-poly1305', key, n, { authTagLength: 16 });
    const ct = Buffer.concat([cipher.update(m.plaintext), cipher.final()]);
    const tag = cipher.getAuthTag();
    const payload = Buffer.concat([n, ct, tag]);
    const f = frame(0x03, sid, payload);
    return {
      direction: m.dir,
      key: m.dir === 'c2d' ? 'clientToDaemon' : 'daemonToClient',
      seq: m.seq.toString(),
      seqHex: m.seq.toString(16).padStart(16, '0'),
      plaintextLabel: m.label,
      plaintextLength: m.plaintext.length,
      ...(m.omit ? {} : { plaintext: hex(m.plaintext) }),
      plaintextSha256Hex: hex(sha256(m.plaintext)),
      nonce: hex(n),
      ...(m.omit ? {} : { payload: hex(payload) }),
      tag: hex(tag),
      frameLength: f.length,
      ...(m.omit ? { frameSha256Hex: hex(sha256(f)) } : { frame: hex(f) }),
    };
  });
  return {
    label,
    daemonId,
    daemonIdUtf8: hex(id),
    sessionId: sid.toString(),
    sessionIdHex: sid.toString(16).padStart(16, '0'),
    identitySeed: hex(identitySeed),
    identityPublicKey: hex(identityPublicKey),
    identityFingerprint: fingerprint(identityPublicKey),
    clientEphemeralPrivateKey: hex(clientPriv),
    clientEphemeralPublicKey: hex(clientPub),
    daemonEphemeralPrivateKey: hex(daemonPriv),
    daemonEphemeralPublicKey: hex(daemonPub),
    sharedSecret: hex(shared),
    signaturePayloadHash: hex(signaturePayloadHash),
    signature: hex(signature),
    transcriptHash: hex(transcriptHash),
    sessionKeys: { clientToDaemon: hex(keys.clientToDaemon), daemonToClient: hex(keys.daemonToClient) },
    frames: {
      handshakeInit: hex(frame(0x01, sid, clientPub)),
      handshakeAccept: hex(frame(0x02, sid, Buffer.concat([identityPublicKey, daemonPub, signature]))),
    },
    data,
  };
}

const vectors = {
  description:
    'SBRP v1 vectors computed with node:crypto (OpenSSL), independently of @noble, by test/vectors/generate-with-node-crypto.ts. Same schema as shared/vectors/sbrp-public.json.',
  handshakes: [
    handshake('node1: non-ASCII daemon id, sid from sbrp.md §5 example', 'démon-ü-🚀', 0x00000b3a73ce2ff2n, [
      { dir: 'c2d', seq: 0n, plaintext: Buffer.from('héllo'), label: 'utf8' },
      { dir: 'd2c', seq: 0n, plaintext: Buffer.alloc(0), label: 'empty' },
      { dir: 'd2c', seq: 1n, plaintext: pattern(4096), label: 'pattern-4096', omit: true },
      { dir: 'c2d', seq: 0xfffffffffffffffen, plaintext: Buffer.from('last'), label: 'last usable sequence 2^64-2' },
    ]),
    handshake('node2: maximum SessionID, max plaintext', 'd', 0xffffffffffffffffn, [
      { dir: 'c2d', seq: 7n, plaintext: pattern(65508), label: 'pattern-65508', omit: true },
      { dir: 'd2c', seq: 0x0102030405060708n, plaintext: Buffer.from([0]), label: 'one zero byte' },
    ]),
  ],
};

writeFileSync(new URL('./sbrp-node-crypto.json', import.meta.url), JSON.stringify(vectors, null, 1) + '\n');
console.log('wrote sbrp-node-crypto.json');
