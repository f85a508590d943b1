import { describe, expect, it } from 'vitest';
import { jsonLineLogger, redactUrl } from './logger.js';

describe('redactUrl', () => {
  it.each([
    ['/v1/connect?token=eyJhbGc.x.y', '/v1/connect?token=[redacted]'],
    ['/v1/connect?a=1&token=abc&b=2', '/v1/connect?a=1&token=[redacted]&b=2'],
    ['/v1/connect?TOKEN=abc#frag', '/v1/connect?TOKEN=[redacted]#frag'],
    ['/v1/connect?token=a&token=b', '/v1/connect?token=[redacted]&token=[redacted]'],
    ['ws://h/v1/connect?x=1', 'ws://h/v1/connect?x=1'],
    ['/v1/connect?notatoken=abc', '/v1/connect?notatoken=abc'],
  ])('%s', (input, output) => {
    expect(redactUrl(input)).toBe(output);
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
