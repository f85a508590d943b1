import { fromBase64Url, fromUtf8 } from '../protocol/bytes.js';

/**
 * Reads a JWT's claims WITHOUT verifying it. Only for our own tokens, to learn what the
 * control plane granted (`scp`, `sid`); the relay is the one that verifies. Undefined when the
 * token is not a JWT with a JSON object payload.
 */
export function readJwtClaims(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims: unknown = JSON.parse(fromUtf8(fromBase64Url(parts[1]!)));
    return typeof claims === 'object' && claims !== null && !Array.isArray(claims) ? (claims as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The `scp` claim as a string array (absent or malformed → empty). */
export function tokenScopes(token: string): string[] {
  const scp = readJwtClaims(token)?.scp;
  return Array.isArray(scp) ? scp.filter((s): s is string => typeof s === 'string') : [];
}
