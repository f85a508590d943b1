import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CliUsageError, parseRelayArgs } from './cli-args.js';
import { refusedUsage } from './testing/cli-usage.js';

/** The CLI parser faces whatever a shell or an orchestrator passes: it must fail clearly, never guess. */

const usage = refusedUsage;

describe('parseRelayArgs', () => {
  it('parses every flag in both spellings', () => {
    const command = parseRelayArgs([
      '--port', '0', '--host=0.0.0.0', '--admin-key', 'k'.repeat(20), '--grace', '2.5', '--allowed-origins', 'https://a.example,http://localhost:5173',
      '--debug', '--issuer', 'iss', '--public-url', 'https://relay.example', '--jwks-url=https://cp.example/jwks.json',
      '--idle-timeout', '45', '--max-connections', '100',
    ]);
    expect(command).toEqual({
      kind: 'run',
      options: {
        port: 0, host: '0.0.0.0', adminKey: 'k'.repeat(20), graceMs: 2500, allowedOrigins: ['https://a.example', 'http://localhost:5173'],
        debug: true, issuer: 'iss', publicUrl: 'https://relay.example', jwksUrl: 'https://cp.example/jwks.json',
        limits: { idleTimeoutMs: 45_000, maxConnections: 100 },
      },
    });
  });

  it('falls back to environment variables, and a flag wins over its variable', () => {
    const env = { SIDEBAND_RELAY_PORT: '9000', SIDEBAND_ADMIN_KEY: 'e'.repeat(16), SIDEBAND_RELAY_DEBUG: '1', SIDEBAND_RELAY_GRACE: '10' };
    expect(parseRelayArgs([], env)).toEqual({ kind: 'run', options: { port: 9000, adminKey: 'e'.repeat(16), debug: true, graceMs: 10_000 } });
    expect(parseRelayArgs(['--port', '1234'], env)).toMatchObject({ options: { port: 1234 } });
    expect(parseRelayArgs([], { SIDEBAND_RELAY_PORT: '' })).toEqual({ kind: 'run', options: { debug: false } });
  });

  it('parses the storage and pairing flags and their variables', () => {
    expect(parseRelayArgs(['--data-dir', '/var/lib/sideband', '--quick-connect', '--web-app-url', 'https://app.example'])).toEqual({
      kind: 'run',
      options: { dataDir: '/var/lib/sideband', quickConnect: true, webAppUrl: 'https://app.example', debug: false },
    });
    expect(parseRelayArgs([], { SIDEBAND_RELAY_DATA_DIR: './data', SIDEBAND_RELAY_QUICK_CONNECT: 'true', SIDEBAND_RELAY_WEB_APP_URL: 'http://localhost:5173' })).toEqual({
      kind: 'run',
      options: { dataDir: './data', quickConnect: true, webAppUrl: 'http://localhost:5173', debug: false },
    });
    expect(parseRelayArgs([], { SIDEBAND_RELAY_QUICK_CONNECT: '0' })).toEqual({ kind: 'run', options: { debug: false } });
    expect(usage([], { SIDEBAND_RELAY_QUICK_CONNECT: 'yes' })).toMatch(/SIDEBAND_RELAY_QUICK_CONNECT must be 1, 0, true or false/);
    expect(usage(['--quick-connect=1'])).toMatch(/takes no value/);
    expect(usage(['--web-app-url', 'ftp://app.example'])).toMatch(/http\(s\) URL/);
    expect(usage(['--data-dir', 'a\u0007b'])).toMatch(/control characters/);
    expect(usage(['--data-dir='])).toMatch(/--data-dir/);
  });

  it('reads the Origin allowlist from the flag or the variable, trimming spaces around commas', () => {
    const env = { SIDEBAND_RELAY_ALLOWED_ORIGINS: 'https://app.example, http://127.0.0.1:5173 ,http://[::1]:8080' };
    expect(parseRelayArgs([], env)).toMatchObject({ options: { allowedOrigins: ['https://app.example', 'http://127.0.0.1:5173', 'http://[::1]:8080'] } });
    expect(parseRelayArgs(['--allowed-origins=http://localhost:5173'], env)).toMatchObject({ options: { allowedOrigins: ['http://localhost:5173'] } });
  });

  // Entries are compared byte for byte with the browser's Origin header, so anything a browser
  // would never send is a configuration mistake that must stop the relay, not silently match nothing.
  it.each([
    ['HTTPS://App.Example', /not an origin.*browsers send "https:\/\/app.example"/],
    ['https://app.example:443', /browsers send "https:\/\/app.example"/],
    ['https://app.example/', /browsers send "https:\/\/app.example"/],
    ['https://app.example?x=1', /not an origin/],
    ['https://user:pw@app.example', /not an origin/],
    ['https://app.exa\nmple', /not an origin/],
    ['https://app.example\u0000', /not an origin/],
    ['ws://app.example', /not an origin/],
    ['file:///etc/passwd', /not an origin/],
    ['javascript:alert(1)', /not an origin/],
    ['*', /not an origin/],
    ['https://a.example,,https://b.example', /entry "" is not an origin/],
    [`https://${'a'.repeat(5000)}.example`, /too long|longer than 4096/],
  ])('rejects the allowlist entry %j with exit code 2', (value, message) => {
    expect(usage(['--allowed-origins', value])).toMatch(message);
    expect(usage([], { SIDEBAND_RELAY_ALLOWED_ORIGINS: value })).toMatch(message);
  });

  it('bounds environment values like flag values', () => {
    expect(usage([], { SIDEBAND_RELAY_ALLOWED_ORIGINS: Array(600).fill('https://a.example').join(',') })).toMatch(/SIDEBAND_RELAY_ALLOWED_ORIGINS is longer than 4096/);
  });

  it('returns help for --help', () => {
    expect(parseRelayArgs(['--help'])).toEqual({ kind: 'help' });
  });

  it.each([
    [['--prot', '1'], /unknown option "--prot"/],
    [['8787'], /unexpected argument/],
    [['--'], /unexpected argument/],
    [['-p', '1'], /unexpected argument/],
    [['--port'], /needs a value/],
    [['--port', '--debug'], /needs a value/],
    [['--port', '1', '--port', '2'], /given twice/],
    [['--debug', '--debug'], /given twice/],
    [['--debug=yes'], /takes no value/],
    [['--port=-1'], /whole number/],
    [['--port=65536'], /between 0 and 65535/],
    [['--port=1e3'], /whole number/],
    [['--port=0x10'], /whole number/],
    [['--port= 80'], /whole number/],
    [['--port=99999999999999999999'], /whole number/],
    [['--grace=0'], /more than 0/],
    [['--grace=NaN'], /number of seconds/],
    [['--grace=Infinity'], /number of seconds/],
    [['--grace=-5'], /number of seconds/],
    [['--grace=100000'], /at most 86400/],
    [['--admin-key=short'], /at least 16/],
    [['--admin-key', 'has a space in it!!'], /at least 16/],
    [['--host', 'a b'], /without spaces/],
    [['--host', 'a\u0000b'], /control characters/],
    [['--allowed-origins', 'https://a.example/path'], /not an origin/],
    [['--allowed-origins', 'https://a.example,'], /not an origin/],
    [['--allowed-origins', 'null'], /not an origin/],
    [['--public-url', 'javascript:alert(1)'], /http\(s\) URL/],
    [['--jwks-url', 'not a url'], /not a URL/],
    [['--max-connections', '0'], /between 1/],
    [['--__proto__', 'x'], /unknown option/],
    [['--constructor'], /unknown option/],
    [[`--${'x'.repeat(5000)}`], /longer than 4096/],
  ])('rejects %j', (argv, message) => {
    expect(usage(argv as string[])).toMatch(message);
  });

  it('rejects a bad environment value with the same clarity', () => {
    expect(usage([], { SIDEBAND_RELAY_PORT: 'eighty' })).toMatch(/--port must be a whole number/);
    expect(usage([], { SIDEBAND_RELAY_DEBUG: 'maybe' })).toMatch(/SIDEBAND_RELAY_DEBUG/);
  });

  it('never throws anything but CliUsageError, whatever the arguments', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), fc.constantFrom('--port', '--grace', '--debug', '--allowed-origins', '--host=', '--help'))), (argv) => {
        try {
          const result = parseRelayArgs(argv);
          expect(['run', 'help']).toContain(result.kind);
        } catch (error) {
          expect(error).toBeInstanceOf(CliUsageError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
