import { bytesToUint64, fromBase64Url, toBase64Url, uint64ToBytes } from './bytes.js';

/**
 * The `sid` claim: base64url without padding of the 8-byte big-endian SessionID, not zero
 * (sbrp.md §5). Example: `AAALOnPOL_I` ↔ 0x00000B3A73CE2FF2.
 */
export function encodeSid(sessionId: bigint): string {
  if (sessionId <= 0n) throw new RangeError('SessionID must be non-zero');
  return toBase64Url(uint64ToBytes(sessionId));
}

/** Returns the SessionID, or undefined when `sid` is not exactly 8 canonical bytes or is zero. */
export function decodeSid(sid: unknown): bigint | undefined {
  if (typeof sid !== 'string' || sid.length !== 11) return undefined;
  let bytes: Uint8Array;
  try {
    bytes = fromBase64Url(sid);
  } catch {
    return undefined;
  }
  if (bytes.length !== 8) return undefined;
  const value = bytesToUint64(bytes);
  return value === 0n ? undefined : value;
}

/** A random non-zero SessionID from the given randomness source. */
export function randomSessionId(randomBytes: (n: number) => Uint8Array): bigint {
  for (;;) {
    const value = bytesToUint64(randomBytes(8));
    if (value !== 0n) return value;
  }
}
