import { randomBytes as nobleRandomBytes } from '@noble/hashes/utils.js';

/** Default randomness: the platform CSPRNG (crypto.getRandomValues) through noble. */
export function randomBytes(length: number): Uint8Array {
  return nobleRandomBytes(length);
}
