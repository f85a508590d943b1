import { ed25519, ED25519_TORSION_SUBGROUP } from '@noble/curves/ed25519.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex, toBase64Url } from '../../protocol/bytes.js';
import { startRelay, type RelayServer } from '../relay-server.js';
import { hasUnsafeLabelCharacter, parseEd25519PublicKey } from './input-checks.js';

/** Keys and labels from the network: hostile encodings must be refused, real ones accepted. */

const P = (1n << 255n) - 19n;
/** Little-endian 32 bytes of `n` (RFC 8032 §5.1.2 encoding of y, sign bit clear). */
const le = (n: bigint): Uint8Array => {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++, n >>= 8n) out[i] = Number(n & 0xffn);
  return out;
};
const goodKey = (): string => toBase64Url(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));
const negativeZero = le(1n);
negativeZero[31]! |= 0x80;

const badKeys: [string, unknown][] = [
  ['all-zero bytes (small order)', toBase64Url(new Uint8Array(32))],
  ['the identity point y = 1', toBase64Url(le(1n))],
  ['non-canonical identity y = p + 1', toBase64Url(le(P + 1n))],
  ['y = p', toBase64Url(le(P))],
  ['x = 0 with the sign bit set', toBase64Url(negativeZero)],
  ...ED25519_TORSION_SUBGROUP.map((hex, i): [string, unknown] => [`torsion point ${i}`, toBase64Url(fromHex(hex))]),
  ['31 bytes', toBase64Url(new Uint8Array(31).fill(9))],
  ['33 bytes', toBase64Url(new Uint8Array(33).fill(9))],
  ['padding', `${goodKey()}=`],
  ['standard base64 alphabet', goodKey().replace(/[-_]/g, '+').replace(/^[^+]/, '+')],
  ['non-canonical trailing bits', goodKey().slice(0, 42) + 'B'],
  ['not a string', 42],
  ['empty', ''],
];

describe('parseEd25519PublicKey', () => {
  it('accepts real public keys', () => {
    for (let i = 0; i < 20; i++) expect(parseEd25519PublicKey(goodKey())).toBeInstanceOf(Uint8Array);
  });

  it.each(badKeys)('refuses %s', (_name, value) => {
    expect(parseEd25519PublicKey(value)).toBeUndefined();
  });
});

describe('hasUnsafeLabelCharacter', () => {
  it.each([
    'ESC\u001b[2J', 'tab\t', 'nul\u0000', 'DEL\u007f', 'C1 CSI\u009b31m', 'NEL\u0085',
    'RLO \u202egpj.exe', 'LRE\u202a', 'PDF\u202c', 'LRI\u2066', 'PDI\u2069', 'line\u2028sep',
    'lone high \ud800', 'lone low \udc00x', 'reversed pair \udc00\ud800',
  ])('refuses %j', (label) => {
    expect(hasUnsafeLabelCharacter(label)).toBe(true);
  });

  it.each(['laptop', 'Pixel 8 — Ana', 'ÄÖÜ ß', '日本語のラベル', 'emoji 📱', 'عربي', ''])('accepts %j', (label) => {
    expect(hasUnsafeLabelCharacter(label)).toBe(false);
  });
});

describe('POST /v1/daemons with hostile input', () => {
  const ADMIN = 'admin-key-for-input-checks-0123';
  let relay: RelayServer;
  beforeAll(async () => {
    relay = await startRelay({ port: 0, adminKey: ADMIN });
  });
  afterAll(async () => {
    await relay.close();
  });
  const register = async (body: unknown): Promise<{ status: number; code?: string }> => {
    const res = await fetch(`${relay.url}/v1/daemons`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as { error?: { code: string } };
    return { status: res.status, code: json.error?.code };
  };

  it.each(badKeys)('refuses identity key: %s', async (_name, identityPublicKey) => {
    expect(await register({ identityPublicKey })).toEqual({ status: 400, code: 'invalid_request' });
  });

  it.each(['evil\u001b]0;title\u0007', 'a\u0000b', '\u009b2J', 'file\u202etxt.exe', '\u2066x\u2069', 'bad \ud83d'])('refuses label %j', async (label) => {
    expect(await register({ identityPublicKey: goodKey(), label })).toEqual({ status: 400, code: 'invalid_request' });
  });

  it('accepts a good key with a Unicode label', async () => {
    expect((await register({ identityPublicKey: goodKey(), label: 'Büro-Laptop 📱' })).status).toBe(201);
  });
});
