import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseFetchArgs, type FetchCliArgs } from './fetch-cli-args.js';

const BASE = ['--relay', 'http://127.0.0.1:8787', '--daemon', 'd_123', '--api-key', 'k1'];

const ok = (argv: string[], env: Record<string, string> = {}): FetchCliArgs => {
  const result = parseFetchArgs(argv, env);
  if (!result.ok) throw new Error(`expected ok, got ${result.error}`);
  if (result.help) throw new Error('expected args, got help');
  return result.args;
};
const error = (argv: string[], env: Record<string, string> = {}): string => {
  const result = parseFetchArgs(argv, env);
  if (result.ok) throw new Error(`expected an error for ${JSON.stringify(argv)}`);
  return result.error;
};

describe('sideband-fetch arguments', () => {
  it('parses a full request, curl style', () => {
    const args = ok([...BASE, '-X', 'PUT', '-H', 'Content-Type: application/json', '--header=x-trace:  abc ', '-d', '{"a":1}', '-i', '-f', '--timeout', '2.5', '/api/items?id=7']);
    expect(args).toMatchObject({
      relay: 'http://127.0.0.1:8787',
      daemonId: 'd_123',
      auth: { kind: 'api-key', key: 'k1' },
      method: 'PUT',
      headers: [['Content-Type', 'application/json'], ['x-trace', 'abc']],
      data: { kind: 'text', text: '{"a":1}' },
      include: true,
      fail: true,
      timeoutMs: 2500,
      path: '/api/items?id=7',
    });
    expect(args.pins).toMatch(/\.sideband[/\\]pins\.json$/);
  });

  it('defaults: GET without a body, POST with -d; @file and @- bodies', () => {
    expect(ok([...BASE, '/x'])).toMatchObject({ method: 'GET', data: undefined, include: false, fail: false, timeoutMs: 0 });
    expect(ok([...BASE, '-d', '', '/x'])).toMatchObject({ method: 'POST', data: { kind: 'text', text: '' } });
    expect(ok([...BASE, '-d', '@body.bin', '/x']).data).toEqual({ kind: 'file', path: 'body.bin' });
    expect(ok([...BASE, '-d', '@-', '/x']).data).toEqual({ kind: 'stdin' });
    expect(ok([...BASE, '-d', '--not-a-flag--', '/x']).data).toEqual({ kind: 'text', text: '--not-a-flag--' });
    expect(ok([...BASE, '-X', 'patch', '-d', 'x', '/x']).method).toBe('patch');
  });

  it('takes relay, daemon, keys and pins from env; flags win, and a key flag beats both env keys', () => {
    const env = { SIDEBAND_RELAY: 'https://relay.example', SIDEBAND_DAEMON: 'envd', SIDEBAND_API_KEY: 'envkey', SIDEBAND_ADMIN_KEY: 'envadmin', SIDEBAND_PINS: '/p.json' };
    expect(ok(['/x'], env)).toMatchObject({ relay: 'https://relay.example', daemonId: 'envd', auth: { kind: 'api-key', key: 'envkey' }, pins: '/p.json' });
    expect(ok(['--admin-key', 'adm', '/x'], env).auth).toEqual({ kind: 'admin-key', key: 'adm' });
    expect(ok(['/x'], { ...env, SIDEBAND_API_KEY: '' }).auth).toEqual({ kind: 'admin-key', key: 'envadmin' });
    expect(ok(['--daemon', 'flagd', '/x'], env).daemonId).toBe('flagd');
  });

  it('--help wins, but not over an unknown flag', () => {
    expect(parseFetchArgs(['--help'])).toEqual({ ok: true, help: true });
    expect(parseFetchArgs(['-h', '/x'])).toEqual({ ok: true, help: true });
    expect(error(['--help', '--bogus'])).toMatch(/unknown option/);
  });

  it('rejects hostile or broken input with a message naming the flag', () => {
    expect(error(['/x'])).toMatch(/--relay/);
    expect(error(['--relay', 'http://r', '/x'])).toMatch(/--daemon/);
    expect(error(['--relay', 'http://r', '--daemon', 'd', '/x'])).toMatch(/--api-key or --admin-key/);
    expect(error([...BASE, '--admin-key', 'a', '/x'])).toMatch(/not both/);
    expect(error([...BASE])).toMatch(/PATH is required/);
    expect(error([...BASE, 'api/x'])).toMatch(/start with "\/"/);
    expect(error([...BASE, '/a b'])).toMatch(/visible ASCII/);
    expect(error([...BASE, '/a\u0000'])).toMatch(/visible ASCII/);
    expect(error([...BASE, '/é'])).toMatch(/visible ASCII/);
    expect(error([...BASE, '/x', '/y'])).toMatch(/already given/);
    expect(error([...BASE, '-X', 'GE T', '/x'])).toMatch(/-X must be/);
    expect(error([...BASE, '-X', 'X'.repeat(33), '/x'])).toMatch(/-X must be/);
    expect(error([...BASE, '-X', 'GET', '-d', 'x', '/x'])).toMatch(/-d cannot be used with GET/);
    expect(error([...BASE, '-H', 'no-colon', '/x'])).toMatch(/Name: value/);
    expect(error([...BASE, '-H', ': v', '/x'])).toMatch(/Name: value/);
    expect(error([...BASE, '-H', 'bad name: v', '/x'])).toMatch(/HTTP token/);
    expect(error([...BASE, '-H', 'x: a\r\nInjected: 1', '/x'])).toMatch(/control characters/);
    expect(error([...BASE, '-H', 'x: a\u0000', '/x'])).toMatch(/control characters/);
    expect(error([...BASE, ...Array.from({ length: 65 }, (_, i) => ['-H', `h${i}: v`]).flat(), '/x'])).toMatch(/at most 64 headers/);
    expect(error([...BASE, '--timeout', '-1', '/x'])).toMatch(/--timeout/);
    expect(error([...BASE, '--timeout', '1e9', '/x'])).toMatch(/--timeout/);
    expect(error([...BASE, '--timeout', '0', '/x'])).toMatch(/--timeout/);
    expect(error([...BASE, '--timeout', 'soon', '/x'])).toMatch(/--timeout/);
    expect(error(['--relay', 'ftp://x', '--daemon', 'd', '--api-key', 'k', '/x'])).toMatch(/http/);
    expect(error(['--relay', 'http://u:p@h', '--daemon', 'd', '--api-key', 'k', '/x'])).toMatch(/credentials/);
    expect(error(['--relay', 'http://h/?t=1', '--daemon', 'd', '--api-key', 'k', '/x'])).toMatch(/query/);
    expect(error(['--relay', 'http://h', '--daemon', '../etc', '--api-key', 'k', '/x'])).toMatch(/--daemon must be/);
    expect(error(['--relay', 'http://h', '--daemon', 'd', '--api-key', 'has space', '/x'])).toMatch(/printable ASCII/);
    expect(error(['--relay', '--daemon', 'd', '/x'])).toMatch(/--relay needs a value/);
    expect(error([...BASE, '--pins'])).toMatch(/--pins needs a value/);
    expect(error([...BASE, '-H'])).toMatch(/-H needs a value/);
    expect(error([...BASE, '--relay', 'http://x', '/x'])).toMatch(/given twice/);
    expect(error([...BASE, '-i', '--include', '/x'])).toMatch(/given twice/);
    expect(error([...BASE, '--include=yes', '/x'])).toMatch(/takes no value/);
    expect(error([...BASE, '--pins', 'a\u001bb', '/x'])).toMatch(/control characters/);
    expect(error([...BASE, '--pins', 'x'.repeat(20_000), '/x'])).toMatch(/longer than/);
    expect(error(['/x'], { SIDEBAND_RELAY: 'http://h', SIDEBAND_DAEMON: 'd', SIDEBAND_API_KEY: 'a\nb' })).toMatch(/SIDEBAND_API_KEY/);
    expect(error([...BASE, '--constructor', '/x'])).toMatch(/unknown option/);
    expect(error([...BASE, '--__proto__=1', '/x'])).toMatch(/unknown option/);
  });

  it('never echoes a secret in an error', () => {
    const secret = 'SUPERSECRET value';
    expect(error(['--relay', 'http://h', '--daemon', 'd', '--api-key', secret, '/x'])).not.toContain('SUPERSECRET');
    expect(error(['--relay', 'http://h', '--daemon', 'd', '--admin-key', secret, '/x'])).not.toContain('SUPERSECRET');
  });

  it('never throws, whatever the argv and env (property)', () => {
    const token = fc.oneof(
      fc.constantFrom('--relay', '--daemon', '--api-key', '--admin-key', '--pins', '-X', '--request', '-H', '--header', '-d', '--data', '-i', '-f', '--timeout', '-h', '--', '-', '/x', '@-'),
      fc.string(),
      fc.string({ unit: 'grapheme' }),
      fc.constantFrom('http://127.0.0.1:1', 'd_1', 'Name: value', '--data=@-', '\u202e', 'a\u0000', '--relay=', '-X=GET'),
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 14 }), fc.dictionary(fc.constantFrom('SIDEBAND_RELAY', 'SIDEBAND_DAEMON', 'SIDEBAND_API_KEY', 'SIDEBAND_ADMIN_KEY', 'SIDEBAND_PINS'), fc.string()), (argv, env) => {
        const result = parseFetchArgs(argv, env);
        if (!result.ok) return typeof result.error === 'string' && result.error.length > 0 && result.error.length < 300;
        if (result.help) return true;
        const { path, headers, method } = result.args;
        return path.startsWith('/') && /^[\x21-\x7e]+$/.test(path) && headers.every(([n, v]) => !/[\r\n\0]/.test(n + v)) && method.length > 0;
      }),
      { numRuns: 3000 },
    );
  });
});
