import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { jsonLineLogger, redactUrl } from './logger.js';
import { startRelay } from './relay-server.js';

describe('redactUrl', () => {
  it.each([
    ['/v1/connect?token=eyJhbGc.x.y', '/v1/connect?token=[redacted]'],
    ['/v1/connect?a=1&token=abc&b=2', '/v1/connect?a=1&token=[redacted]&b=2'],
    ['/v1/connect?TOKEN=abc#frag', '/v1/connect?TOKEN=[redacted]#frag'],
    ['/v1/connect?token=a&token=b', '/v1/connect?token=[redacted]&token=[redacted]'],
    ['ws://h/v1/connect?x=1', 'ws://h/v1/connect?x=1'],
    ['/v1/connect?notatoken=abc', '/v1/connect?notatoken=abc'],
    // Percent-encoded names: the relay's URL parser decodes them, so they carry a working token.
    ['/v1/connect?%74oken=eyJ.x.y', '/v1/connect?%74oken=[redacted]'],
    ['/v1/connect?to%6Ben=eyJ.x.y', '/v1/connect?to%6Ben=[redacted]'],
    ['/v1/connect?%54%4F%4B%45%4E=abc', '/v1/connect?%54%4F%4B%45%4E=[redacted]'],
    ['/v1/connect?%zz=1&token=x', '/v1/connect?%zz=1&token=[redacted]'],
    ['/v1/connect?%zz&%74oken=x%zz&b', '/v1/connect?%zz&%74oken=[redacted]&b'],
    ['/v1/connect?%%74oken=a', '/v1/connect?%%74oken=a'],
    ['/v1/connect?token', '/v1/connect?token=[redacted]'],
    ['/v1/connect?token=', '/v1/connect?token=[redacted]'],
    ['/v1/connect?a=1;token=abc', '/v1/connect?a=1;token=[redacted]'],
    ['/v1/connect?a=1#&token=abc', '/v1/connect?a=1#&token=[redacted]'],
    ['/v1/connect?x?token=abc', '/v1/connect?x?token=[redacted]'],
    ['/v1/connect?%74oken%3Dabc', '/v1/connect?[redacted]'],
    ['/v1/connect?+token+=abc', '/v1/connect?+token+=[redacted]'],
    ['/v1/connect?token=a=b=c&x=1', '/v1/connect?token=[redacted]&x=1'],
    ['/v1/connect?%2574oken=abc', '/v1/connect?%2574oken=abc'], // decoded once: "%74oken", not read by the relay
    ['/v1/connect', '/v1/connect'],
    ['', ''],
  ])('%s', (input, output) => {
    expect(redactUrl(input)).toBe(output);
  });
});

describe('redactUrl on hostile input', () => {
  it('never throws and never lets a value after a token-named parameter through', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.constantFrom('token', '%74oken', 'to%6Ben', 'TOKEN', 'ToKeN', '%74%6f%6b%65%6e'), fc.constantFrom('?', '&', ';'), fc.string({ unit: 'binary' }), (prefix, name, sep, rest) => {
        const secret = 'SECRETabc123';
        const url = `/v1/connect?${prefix.replace(/[?]/g, '')}${sep}${name}=${secret}&${rest}`;
        expect(redactUrl(url)).not.toContain(secret);
      }),
    );
  });
});

describe('relay log lines at the upgrade', () => {
  it.each(['?%74oken=', '?to%6Ben=', '?token=a&token=', '?%zz=1&token=', '?TOKEN='])('redact the token in %s', async (query) => {
    const lines: string[] = [];
    const logger = jsonLineLogger({ write: (line) => lines.push(line) }, true);
    const relay = await startRelay({ port: 0, logger });
    try {
      const secret = 'eyJSECRET.leak.me';
      const status = await new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(`${relay.wsUrl}${query}${secret}`);
        ws.on('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          ws.terminate();
        });
        ws.on('open', () => reject(new Error('upgrade accepted')));
        ws.on('error', () => {});
      });
      expect(status).toBe(401);
    } finally {
      await relay.close();
    }
    expect(lines.some((line) => line.includes('upgrade refused'))).toBe(true);
    expect(lines.join('')).not.toContain('SECRET');
  });
});

describe('jsonLineLogger', () => {
  it('writes one JSON object per line and drops debug lines unless verbose', () => {
    const lines: string[] = [];
    const log = jsonLineLogger({ write: (line) => lines.push(line) }, false);
    log.debug('hidden');
    log.info('listening', { port: 1 });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'info', message: 'listening', port: 1 });
  });
});

describe('jsonLineLogger safety net', () => {
  it('redacts a url field that reached it unredacted', () => {
    const lines: string[] = [];
    jsonLineLogger({ write: (line) => lines.push(line) }, false).info('x', { url: '/v1/connect?%74oken=SECRET' });
    expect(lines[0]).not.toContain('SECRET');
  });
});
