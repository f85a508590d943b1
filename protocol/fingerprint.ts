import { sha256 } from '@noble/hashes/sha2.js';

/** `SHA256:` then SHA-256(key) as uppercase hex pairs joined by `:` (sbrp.md §2). */
export function fingerprint(identityPublicKey: Uint8Array): string {
  const digest = sha256(identityPublicKey);
  const pairs: string[] = [];
  for (const byte of digest) pairs.push(byte.toString(16).toUpperCase().padStart(2, '0'));
  return `SHA256:${pairs.join(':')}`;
}
