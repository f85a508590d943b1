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

  describe('device credentials (--device, --pair, --label)', () => {
    const RELAY = ['--relay', 'http://127.0.0.1:8787'];
    const CODE = '7KQ2M-XD9RP-4TAVB-0HNZC-W3E8FJ';

    it('--device alone is enough: relay and daemon come from the record, env relay and daemon are not used', () => {
      expect(ok(['--device', '/d', '/x'])).toMatchObject({ auth: { kind: 'device', dir: '/d' }, relay: undefined, daemonId: undefined, pair: undefined, path: '/x' });
      const env = { SIDEBAND_RELAY: 'https://relay.example', SIDEBAND_DAEMON: 'envd', SIDEBAND_DEVICE: '/envdir' };
      expect(ok(['/x'], env)).toMatchObject({ auth: { kind: 'device', dir: '/envdir' }, relay: undefined, daemonId: undefined });
      // Given as flags they are kept, for the CLI to check against the record.
      expect(ok(['--device', '/d', ...RELAY, '--daemon', 'd_1', '/x'])).toMatchObject({ relay: 'http://127.0.0.1:8787', daemonId: 'd_1' });
    });

    it('a flag of one kind beats env of the other; both only in env is ambiguous', () => {
      const keys = { SIDEBAND_RELAY: 'http://r', SIDEBAND_DAEMON: 'd', SIDEBAND_API_KEY: 'envkey', SIDEBAND_ADMIN_KEY: 'envadmin' };
      expect(ok(['--device', '/d', '/x'], keys).auth).toEqual({ kind: 'device', dir: '/d' });
      expect(ok(['--api-key', 'k', '/x'], { ...keys, SIDEBAND_DEVICE: '/envdir' }).auth).toEqual({ kind: 'api-key', key: 'k' });
      expect(ok(['--admin-key', 'a', '/x'], { ...keys, SIDEBAND_DEVICE: '/envdir' }).auth).toEqual({ kind: 'admin-key', key: 'a' });
      expect(ok(['--pair', CODE, '/x'], { ...keys, SIDEBAND_DEVICE: '/envdir' })).toMatchObject({ auth: { kind: 'device', dir: '/envdir' }, relay: 'http://r' });
      expect(error(['/x'], { ...keys, SIDEBAND_DEVICE: '/envdir' })).toMatch(/SIDEBAND_DEVICE and SIDEBAND_API_KEY/);
      expect(error(['/x'], { SIDEBAND_DEVICE: '/envdir', SIDEBAND_ADMIN_KEY: 'a' })).toMatch(/both set/);
    });

    it('--pair: code as typed (the relay judges it), optional label, PATH optional', () => {
      expect(ok(['--pair', CODE, ...RELAY, '--device', '/d'])).toMatchObject({ pair: { code: CODE }, relay: 'http://127.0.0.1:8787', auth: { kind: 'device', dir: '/d' }, path: undefined });
      expect(ok(['--pair', CODE, ...RELAY, '--device', '/d', '--label', 'ci runner ✓', '/api/x']).pair).toEqual({ code: CODE, label: 'ci runner ✓' });
      // Malformed codes are not this parser's business: the relay normalizes and answers invalid_request.
      for (const code of ['not-a-code!', '7kq2m xd9rp', 'OOOOO-IIIII-LLLLL', 'x', '-'.repeat(100)]) {
        expect(ok([`--pair=${code}`, ...RELAY, '--device', '/d']).pair).toEqual({ code });
      }
      expect(ok(['--pair', CODE, '--device', '/d', '--timeout', '5'], { SIDEBAND_RELAY: 'http://r' })).toMatchObject({ relay: 'http://r', timeoutMs: 5000 });
      expect(ok(['--pair', CODE, '--device', '/d', '--label', 'x'.repeat(128)], { SIDEBAND_RELAY: 'http://r' }).pair?.label).toHaveLength(128);
    });

    it('rejects hostile or conflicting device flags', () => {
      expect(error(['--device', '/d', '--api-key', 'k', '/x'])).toMatch(/--device or a key .* not both/);
      expect(error(['--admin-key', 'k', '--device', '/d', '/x'])).toMatch(/not both/);
      expect(error(['--pair', CODE, ...RELAY, '--device', '/d', '--api-key', 'k'])).toMatch(/--pair .* cannot be combined/);
      expect(error(['--pair', CODE, ...RELAY, '/x'])).toMatch(/--pair needs --device/);
      expect(error(['--pair', CODE, ...RELAY, '/x'], { SIDEBAND_API_KEY: 'k' })).toMatch(/--pair needs --device/);
      expect(error(['--pair', CODE, '--device', '/d'])).toMatch(/--pair needs --relay/);
      expect(error(['--pair', CODE, ...RELAY, '--device', '/d', '--daemon', 'd_1'])).toMatch(/leave out --daemon/);
      expect(error(['--pair', CODE, '--relay', 'ftp://x', '--device', '/d'])).toMatch(/http/);
      expect(error(['--pair', CODE, '--relay', 'http://u:p@h', '--device', '/d'])).toMatch(/credentials/);
      expect(error(['--device', '/d', '--relay', 'http://h/?q=1', '/x'])).toMatch(/query/);
      expect(error(['--device', '/d', '--daemon', '../etc', '/x'])).toMatch(/--daemon must be/);
      expect(error(['--device', '/d', ...RELAY, '--label', 'x', '/x'])).toMatch(/--label .* needs --pair/);
      expect(error(['--device', '/d'])).toMatch(/PATH is required/);
      expect(error(['--pair', CODE, ...RELAY, '--device', '/d', '-d', 'body'])).toMatch(/need a PATH/);
      expect(error(['--pair', CODE, ...RELAY, '--device', '/d', '-i'])).toMatch(/need a PATH/);
      expect(error(['--pair', CODE, ...RELAY, '--device', '/d', '-H', 'a: b'])).toMatch(/need a PATH/);
      expect(error(['--pair', '', ...RELAY, '--device', '/d'])).toMatch(/--pair needs a non-empty value/);
      expect(error(['--pair', 'A'.repeat(129), ...RELAY, '--device', '/d'])).toMatch(/--pair code is longer than 128/);
      expect(error(['--pair', 'ABC\u0000DEF', ...RELAY, '--device', '/d'])).toMatch(/control characters/);
      expect(error(['--pair', CODE, '--pair', CODE, ...RELAY, '--device', '/d'])).toMatch(/given twice/);
      expect(error(['--pair', '--device', '/d', ...RELAY])).toMatch(/--pair needs a value/);
      expect(error(['--pair', CODE, ...RELAY, '--device', '/d', '--label', 'x'.repeat(129)])).toMatch(/--label must be at most 128/);
      expect(error(['--pair', CODE, ...RELAY, '--device', '/d', '--label', 'evil\u001b[2J'])).toMatch(/control characters/);
      expect(error(['--pair', CODE, ...RELAY, '--device', '/d', '--label', 'phone\u0085'])).toMatch(/control characters/);
      expect(error(['--pair', CODE, ...RELAY, '--device', '/d', '--label', 'gpj.\u202eexe'])).toMatch(/--label must be printable/);
      expect(error(['--pair', CODE, ...RELAY, '--device', '/d', '--label', 'a\u2066b'])).toMatch(/--label must be printable/);
      expect(error(['--pair', CODE, ...RELAY, '--device', '/d', '--label', 'half \ud800'])).toMatch(/--label must be printable/);
      expect(error(['--pair', CODE, ...RELAY, '--device', '/d', '--label', ''])).toMatch(/--label needs a non-empty value/);
      expect(error(['--device', '', '/x'])).toMatch(/--device needs a non-empty value/);
      expect(error(['--device', 'a\nb', '/x'])).toMatch(/control characters/);
      expect(error(['--device=/a', '--device=/b', '/x'])).toMatch(/given twice/);
      expect(error(['--device'])).toMatch(/--device needs a value/);
      expect(error(['/x'], { SIDEBAND_DEVICE: 'a\u0007b' })).toMatch(/SIDEBAND_DEVICE/);
      expect(error(['/x'], { SIDEBAND_DEVICE: 'x'.repeat(20_000) })).toMatch(/SIDEBAND_DEVICE/);
    });
  });

  it('never echoes a secret in an error', () => {
    const secret = 'SUPERSECRET value';
    expect(error(['--relay', 'http://h', '--daemon', 'd', '--api-key', secret, '/x'])).not.toContain('SUPERSECRET');
    expect(error(['--relay', 'http://h', '--daemon', 'd', '--admin-key', secret, '/x'])).not.toContain('SUPERSECRET');
    // A Quick Connect code is a one-time secret too.
    for (const argv of [
      ['--pair', secret, '--device', '/d'],
      ['--pair', `${secret}${'x'.repeat(200)}`, '--relay', 'http://h', '--device', '/d'],
      ['--pair', secret, '--relay', 'http://h', '--device', '/d', '--api-key', 'k'],
      ['--pair', secret, '--relay', 'http://h', '--device', '/d', '-d', 'x'],
      ['--pair', secret, '--pair', secret],
    ]) {
      expect(error(argv)).not.toContain('SUPERSECRET');
    }
  });

  it('never throws, whatever the argv and env (property)', () => {
    const token = fc.oneof(
      fc.constantFrom('--relay', '--daemon', '--api-key', '--admin-key', '--device', '--pair', '--label', '--pins', '-X', '--request', '-H', '--header', '-d', '--data', '-i', '-f', '--timeout', '-h', '--', '-', '/x', '@-'),
      fc.string(),
      fc.string({ unit: 'grapheme' }),
      fc.constantFrom('http://127.0.0.1:1', 'd_1', 'Name: value', '--data=@-', '\u202e', 'a\u0000', '--relay=', '-X=GET', '/dev/dir', '7KQ2M-XD9RP-4TAVB-0HNZC-W3E8FJ', '--pair=', '--device=.', '--label=\ud800'),
    );
    // Pairing runs need --relay, --device and --pair together: weight them in so the property reaches those paths.
    const argvs = fc.oneof(
      fc.array(token, { maxLength: 14 }),
      fc.tuple(fc.array(token, { maxLength: 6 }), fc.array(token, { maxLength: 6 })).map(([a, b]) => [...a, '--pair', 'ABC', '--relay', 'http://r', '--device', '/d', ...b]),
    );
    const envKeys = fc.constantFrom('SIDEBAND_RELAY', 'SIDEBAND_DAEMON', 'SIDEBAND_API_KEY', 'SIDEBAND_ADMIN_KEY', 'SIDEBAND_DEVICE', 'SIDEBAND_PINS');
    const seen = { device: 0, pairOnly: 0 };
    fc.assert(
      fc.property(argvs, fc.dictionary(envKeys, fc.string()), (argv, env) => {
        const result = parseFetchArgs(argv, env);
        if (!result.ok) return typeof result.error === 'string' && result.error.length > 0 && result.error.length < 300;
        if (result.help) return true;
        const { path, headers, method, auth, relay, daemonId, pair } = result.args;
        if (auth.kind === 'device') seen.device++;
        if (path === undefined) seen.pairOnly++;
        const pathOk = path === undefined ? pair !== undefined && headers.length === 0 : path.startsWith('/') && /^[\x21-\x7e]+$/.test(path);
        const authOk =
          auth.kind === 'device'
            ? auth.dir.length > 0 && !/\p{Cc}/u.test(auth.dir) && (pair === undefined || (relay !== undefined && daemonId === undefined))
            : relay !== undefined && daemonId !== undefined && pair === undefined && /^[\x21-\x7e]+$/.test(auth.key);
        const labelOk = pair?.label === undefined || (pair.label.length <= 128 && !/[\p{Cc}\p{Cs}\u202a-\u202e\u2066-\u2069]/u.test(pair.label));
        return pathOk && authOk && labelOk && headers.every(([n, v]) => !/[\r\n\0]/.test(n + v)) && method.length > 0;
      }),
      { numRuns: 3000 },
    );
    // The property must have reached the new paths, not only their errors.
    expect(seen.device).toBeGreaterThan(0);
    expect(seen.pairOnly).toBeGreaterThan(0);
  });
});
