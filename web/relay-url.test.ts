import { describe, expect, it } from 'vitest';
import { toBase64Url, utf8 } from '../protocol/bytes.js';
import { readJwtClaims, tokenScopes } from './jwt-claims.js';
import { relayWebSocketUrl } from './relay-url.js';
import { upgradeStatusCode } from '../node/relay-socket.js';

describe('relay URLs, token claims and upgrade codes', () => {
  it('derives the WebSocket endpoint from the relay base URL', () => {
    expect(relayWebSocketUrl('http://127.0.0.1:8787')).toBe('ws://127.0.0.1:8787/v1/connect');
    expect(relayWebSocketUrl('https://relay.example/base/')).toBe('wss://relay.example/base/v1/connect');
    expect(relayWebSocketUrl('wss://relay.example/v1/connect')).toBe('wss://relay.example/v1/connect');
    expect(() => relayWebSocketUrl('file:///etc/passwd')).toThrow(expect.objectContaining({ code: 'invalid_config' }));
  });

  it('reads (never verifies) JWT claims', () => {
    const jwt = (claims: unknown): string => `${toBase64Url(utf8('{"alg":"EdDSA"}'))}.${toBase64Url(utf8(JSON.stringify(claims)))}.sig`;
    expect(tokenScopes(jwt({ scp: ['session:resume', 7] }))).toEqual(['session:resume']);
    expect(tokenScopes(jwt({}))).toEqual([]);
    expect(readJwtClaims(jwt({ sid: 'AAALOnPOL_I' }))?.sid).toBe('AAALOnPOL_I');
    for (const bad of ['', 'a.b', 'a.!!!.c', `x.${toBase64Url(utf8('[1]'))}.y`, `x.${toBase64Url(utf8('nope'))}.y`]) expect(readJwtClaims(bad)).toBeUndefined();
  });

  it('names refused upgrades by status (sbrp.md §5)', () => {
    expect([401, 403, 409, 429, 500].map(upgradeStatusCode)).toEqual(['unauthorized', 'forbidden', 'session_conflict', 'too_many_connections', 'upgrade_failed']);
  });
});
