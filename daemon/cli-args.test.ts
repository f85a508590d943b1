import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseDaemonArgs } from './cli-args.js';

const ok = (argv: string[], env: Record<string, string> = {}) => {
  const result = parseDaemonArgs(argv, env);
  if (!result.ok) throw new Error(`expected ok, got ${result.error}`);
  return result.args;
};
const error = (argv: string[], env: Record<string, string> = {}): string => {
  const result = parseDaemonArgs(argv, env);
  if (result.ok) throw new Error(`expected an error for ${JSON.stringify(argv)}`);
  return result.error;
};

describe('daemon CLI arguments', () => {
  it('parses flags in both forms, with env fallbacks (flags win)', () => {
    expect(ok(['--relay', 'http://127.0.0.1:8787', '--api-key=abc', '--identity', '/tmp/id.json', '--echo'])).toMatchObject({
      relay: 'http://127.0.0.1:8787', apiKey: 'abc', identity: '/tmp/id.json', echo: true, register: false,
    });
    const env = { SIDEBAND_RELAY: 'https://relay.example', SIDEBAND_API_KEY: 'envkey', SIDEBAND_IDENTITY: '/env/id.json', SIDEBAND_ADMIN_KEY: 'adm' };
    expect(ok([], env)).toMatchObject({ relay: 'https://relay.example', apiKey: 'envkey', identity: '/env/id.json' });
    expect(ok(['--api-key', 'flag'], env).apiKey).toBe('flag');
    expect(ok(['--register'], env)).toMatchObject({ register: true, adminKey: 'adm' });
    expect(ok(['--register', '--admin-key', 'a', '--label', 'My laptop ✓'])).toMatchObject({ label: 'My laptop ✓', adminKey: 'a' });
    expect(ok([]).identity).toMatch(/\.sideband[/\\]identity\.json$/);
    expect(ok(['--api-key', '-starts-with-dash']).apiKey).toBe('-starts-with-dash');
    expect(ok(['--help']).help).toBe(true);
    expect(error(['--help', '--bogus'])).toMatch(/unknown option/);
    expect(ok(['-h']).help).toBe(true);
  });

  it('rejects bad input with a message naming the flag', () => {
    expect(error(['--nope'])).toMatch(/unknown option "--nope"/);
    expect(error(['stray'])).toMatch(/unexpected argument/);
    expect(error(['--relay'])).toMatch(/--relay needs a value/);
    expect(error(['--relay', '--echo'])).toMatch(/--relay needs a value/);
    expect(error(['--relay='])).toMatch(/non-empty/);
    expect(error(['--relay', 'ftp://x'])).toMatch(/http/);
    expect(error(['--relay', 'http://u:p@host'])).toMatch(/credentials/);
    expect(error(['--relay', 'http://host/?token=x'])).toMatch(/query/);
    expect(error(['--relay', 'not a url'])).toMatch(/URL/);
    expect(error(['--echo', '--echo'])).toMatch(/twice/);
    expect(error(['--relay', 'http://a', '--relay=http://b'])).toMatch(/twice/);
    expect(error(['--echo=yes'])).toMatch(/takes no value/);
    expect(error(['--register'])).toMatch(/--admin-key/);
    expect(error(['--admin-key', 'x'])).toMatch(/only used with --register/);
    expect(error(['--label', 'x'])).toMatch(/only used with --register/);
    expect(error(['--api-key', 'has space'])).toMatch(/printable ASCII/);
    expect(error(['--identity', 'a\u0000b'])).toMatch(/control characters/);
    expect(error(['--register', '--admin-key', 'a', '--label', 'x'.repeat(101)])).toMatch(/label/);
    expect(error(['--identity', 'x'.repeat(5000)])).toMatch(/longer than/);
    expect(error([], { SIDEBAND_RELAY: 'javascript:alert(1)' })).toMatch(/http/);
    expect(error([], { SIDEBAND_API_KEY: 'a\nb' })).toMatch(/SIDEBAND_API_KEY/);
  });

  it('--proxy takes an http(s) origin, from the flag or SIDEBAND_PROXY, and excludes --echo', () => {
    expect(ok(['--proxy', 'http://127.0.0.1:3000']).proxy).toBe('http://127.0.0.1:3000');
    expect(ok(['--proxy=https://localhost:8443/']).proxy).toBe('https://localhost:8443/');
    expect(ok([], { SIDEBAND_PROXY: 'http://[::1]:5173' }).proxy).toBe('http://[::1]:5173');
    expect(ok(['--proxy', 'http://127.0.0.1:1'], { SIDEBAND_PROXY: 'http://127.0.0.1:2' }).proxy).toBe('http://127.0.0.1:1');
    expect(ok([]).proxy).toBeUndefined();
    expect(error(['--proxy'])).toMatch(/--proxy needs a value/);
    expect(error(['--proxy', 'file:///etc/passwd'])).toMatch(/--proxy must be an http/);
    expect(error(['--proxy', 'javascript:alert(1)'])).toMatch(/--proxy must be an http/);
    expect(error(['--proxy', '127.0.0.1:3000'])).toMatch(/--proxy must be/);
    expect(error(['--proxy', 'not a url'])).toMatch(/--proxy must be a URL/);
    expect(error(['--proxy', 'http://user:pw@127.0.0.1:3000'])).toMatch(/credentials/);
    expect(error(['--proxy', 'http://127.0.0.1:3000/app'])).toMatch(/origin only/);
    expect(error(['--proxy', 'http://127.0.0.1:3000/?x=1'])).toMatch(/origin only/);
    expect(error(['--proxy', 'http://127.0.0.1:3000/#top'])).toMatch(/origin only/);
    expect(error(['--proxy', 'http://a', '--proxy', 'http://b'])).toMatch(/twice/);
    expect(error(['--proxy', 'http://127.0.0.1:3000', '--echo'])).toMatch(/exclude each other/);
    expect(error([], { SIDEBAND_PROXY: 'http://x/\u0007' })).toMatch(/SIDEBAND_PROXY/);
  });

  it('never echoes a secret value in an error', () => {
    const secret = 'SUPERSECRETKEY with space';
    expect(error(['--api-key', secret])).not.toContain('SUPERSECRET');
    expect(error(['--register', '--admin-key', `${secret}`])).not.toContain('SUPERSECRET');
  });

  it('never throws, whatever the argv and env', () => {
    const token = fc.oneof(
      fc.constantFrom('--relay', '--api-key', '--identity', '--register', '--admin-key', '--label', '--echo', '--proxy', '--help', '-h', '--', '-', '='),
      fc.string(),
      fc.string({ unit: 'grapheme' }),
      fc.constantFrom('http://127.0.0.1:1', '--relay=http://x', '--api-key=', '--proxy=http://127.0.0.1:3000', 'a\u0000', '\u202e'),
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 12 }), fc.dictionary(fc.constantFrom('SIDEBAND_RELAY', 'SIDEBAND_API_KEY', 'SIDEBAND_IDENTITY', 'SIDEBAND_ADMIN_KEY', 'SIDEBAND_PROXY'), fc.string()), (argv, env) => {
        const result = parseDaemonArgs(argv, env);
        if (result.ok) return typeof result.args.identity === 'string';
        return typeof result.error === 'string' && result.error.length > 0 && result.error.length < 300;
      }),
      { numRuns: 2000 },
    );
  });
  it('--force goes with --register only', () => {
    expect(ok(['--register', '--force', '--admin-key', 'a'])).toMatchObject({ register: true, force: true });
    expect(ok(['--register', '--admin-key', 'a']).force).toBe(false);
    expect(error(['--force'])).toBe('--force is only used with --register');
  });
});
