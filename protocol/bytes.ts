/** Byte helpers shared by every layer. SBRP is big-endian everywhere (sbrp.md preamble). */

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Decodes UTF-8, throwing on invalid sequences instead of inserting U+FFFD. */
export function fromUtf8(bytes: Uint8Array): string {
  return strictDecoder.decode(bytes);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  return joinChunks(parts);
}

/** One buffer holding `parts` in order (a list, so any number of body chunks; no spread limit). */
export function joinChunks(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0');
  return out;
}

export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new TypeError('fromHex: expected an even number of hex digits');
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export const UINT64_MAX = (1n << 64n) - 1n;

export function writeUint64(view: DataView, offset: number, value: bigint): void {
  if (value < 0n || value > UINT64_MAX) throw new RangeError('uint64 out of range');
  view.setBigUint64(offset, value, false);
}

export function uint64ToBytes(value: bigint): Uint8Array {
  const out = new Uint8Array(8);
  writeUint64(new DataView(out.buffer), 0, value);
  return out;
}

export function bytesToUint64(bytes: Uint8Array): bigint {
  if (bytes.length !== 8) throw new RangeError('uint64 needs exactly 8 bytes');
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, false);
}

/** Constant-time comparison for keys and tags (length is not secret). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Best-effort zeroing of key material (sbrp.md §2: zeroed after use). */
export function wipe(...buffers: (Uint8Array | undefined | null)[]): void {
  for (const buffer of buffers) buffer?.fill(0);
}

/** base64url without padding, as used by JWT and the `sid` claim (sbrp.md §5). */
export function toBase64Url(bytes: Uint8Array): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  let out = '';
  let i = 0;
  for (; i + 3 <= bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += alphabet[n >> 18]! + alphabet[(n >> 12) & 63]! + alphabet[(n >> 6) & 63]! + alphabet[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += alphabet[n >> 18]! + alphabet[(n >> 12) & 63]!;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += alphabet[n >> 18]! + alphabet[(n >> 12) & 63]! + alphabet[(n >> 6) & 63]!;
  }
  return out;
}

/** Strict base64url decoder: rejects padding, foreign characters and non-canonical tails. */
export function fromBase64Url(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
    throw new TypeError('invalid base64url');
  }
  const value = (c: string): number => {
    const code = c.charCodeAt(0);
    if (code >= 65 && code <= 90) return code - 65;
    if (code >= 97 && code <= 122) return code - 71;
    if (code >= 48 && code <= 57) return code + 4;
    return c === '-' ? 62 : 63;
  };
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let o = 0;
  let bits = 0;
  let acc = 0;
  for (const c of text) {
    acc = (acc << 6) | value(c);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) throw new TypeError('invalid base64url (non-zero padding bits)');
  return out;
}
