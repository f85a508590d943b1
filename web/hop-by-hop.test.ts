import { describe, expect, it } from 'vitest';
import { headerPairs, toHeaders } from './hop-by-hop.js';

describe('hop-by-hop headers (docs/protocol.md §3)', () => {
  it('drops headers named in Connection on the receive side too', () => {
    const headers = toHeaders([
      ['connection', 'x-hop, Keep-Alive'],
      ['x-hop', 'secret'],
      ['keep-alive', 'timeout=5'],
      ['x-kept', '1'],
    ]);
    expect([...headers]).toEqual([['x-kept', '1']]);
  });

  it('drops them on the send side, keeps proxy-status and repeated Set-Cookie in order', () => {
    const h = new Headers([
      ['connection', 'x-hop'],
      ['x-hop', '1'],
      ['proxy-authorization', 'Basic x'],
      ['proxy-status', 'relay'],
    ]);
    h.append('set-cookie', 'a=1');
    h.append('set-cookie', 'b=2');
    expect(headerPairs(h)).toEqual([
      ['proxy-status', 'relay'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
    ]);
  });
});
