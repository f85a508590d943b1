import { ed25519 } from '@noble/curves/ed25519.js';
import { fromBase64Url, toBase64Url } from '../../protocol/bytes.js';

/**
 * Checks shared by every control-plane route that takes a public key or a label from the network
 * (daemon registration, Quick Connect redeem). Pure: no I/O, no HttpError; callers choose the answer.
 */

/**
 * Decodes `value` as the base64url (no padding, canonical: re-encoding gives it back) of a
 * 32-byte Ed25519 public key that is safe to pin or verify with, or returns undefined.
 *
 * Refused: any other length or spelling; a non-canonical point encoding (y ≥ p, or x = 0 with
 * the sign bit set; RFC 8032 §5.1.3 decoding, which noble applies strictly); and every point of
 * small order, the identity (all-zero-looking keys such as y = 1) included: with a small-order
 * key one signature verifies for many messages, so such a key proves nothing.
 */
export function parseEd25519PublicKey(value: unknown): Uint8Array | undefined {
  // 32 bytes are 43 base64url characters without padding.
  if (typeof value !== 'string' || value.length !== 43) return undefined;
  let bytes: Uint8Array;
  try {
    bytes = fromBase64Url(value);
  } catch {
    return undefined;
  }
  if (bytes.length !== 32 || toBase64Url(bytes) !== value) return undefined;
  try {
    const point = ed25519.Point.fromBytes(bytes);
    if (point.isSmallOrder()) return undefined;
    // Belt and braces: the decoder is strict, and the canonical encoding must be the input.
    return toBase64Url(point.toBytes()) === value ? bytes : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a label (daemon or device) contains a character that could drive or deceive the
 * terminal or UI that shows it: C0 controls, DEL, C1 controls (U+0080–U+009F, including the
 * 8-bit CSI U+009B), the line/paragraph separators U+2028/U+2029, the bidi embeddings,
 * overrides and isolates U+202A–U+202E and U+2066–U+2069 ("Trojan Source", CVE-2021-42574),
 * or a lone UTF-16 surrogate (JSON can carry one as `\ud800`; it is not text).
 */
export function hasUnsafeLabelCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
    if (c === 0x2028 || c === 0x2029 || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069)) return true;
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return true;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return true;
  }
  return false;
}
