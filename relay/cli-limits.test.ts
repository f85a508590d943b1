import { describe, expect, it } from 'vitest';
import { LIMIT_FLAGS, parseRelayArgs, USAGE } from './cli-args.js';
import { DEFAULT_LIMITS, resolveOptions, type RelayLimits } from './options.js';
import { refusedUsage } from './testing/cli-usage.js';

/** Every relay limit is settable by flag and variable, validated strictly, and listed in --help. */

const usage = refusedUsage;
const limitsOf = (argv: string[], env: Record<string, string> = {}): Partial<RelayLimits> | undefined => {
  const command = parseRelayArgs(argv, env);
  if (command.kind !== 'run') throw new Error('not run');
  return command.options.limits;
};

describe('limit flags', () => {
  it('cover every field of DEFAULT_LIMITS (rates as two flags each)', () => {
    const covered = new Set<string>();
    for (const limit of LIMIT_FLAGS) {
      const limits: Partial<RelayLimits> = {};
      limit.apply(limits, limit.min);
      for (const key of Object.keys(limits)) covered.add(key);
    }
    expect([...covered].sort()).toEqual(Object.keys(DEFAULT_LIMITS).sort());
  });

  it('use one naming scheme: --kebab-name and SIDEBAND_RELAY_KEBAB_NAME', () => {
    for (const { flag, env } of LIMIT_FLAGS) {
      expect(flag).toMatch(/^[a-z]+(-[a-z]+)*$/);
      expect(env).toBe(`SIDEBAND_RELAY_${flag.toUpperCase().replace(/-/g, '_')}`);
    }
    expect(new Set(LIMIT_FLAGS.map((l) => l.flag)).size).toBe(LIMIT_FLAGS.length);
  });

  it('are all listed in --help with their variable and default', () => {
    for (const limit of LIMIT_FLAGS) {
      expect(USAGE).toContain(`--${limit.flag} `);
      expect(USAGE).toContain(`[${limit.env}] (default ${limit.shown};`);
    }
    expect(USAGE).toContain('--metrics-token');
    expect(USAGE).toContain('--trust-proxy');
  });

  it('accept each limit at both ends of its range, by flag and by variable, and the result resolves', () => {
    for (const limit of LIMIT_FLAGS) {
      for (const value of [limit.min, limit.max]) {
        const text = String(value);
        const byFlag = limitsOf([`--${limit.flag}`, text]);
        expect(byFlag, limit.flag).toEqual(limitsOf([], { [limit.env]: text }));
        expect(() => resolveOptions({ limits: byFlag! }), limit.flag).not.toThrow();
      }
    }
  });

  it('parse units: seconds to milliseconds, rates merged with the other half\'s default', () => {
    expect(limitsOf(['--close-timeout', '2.5', '--rate-notice-interval=0.25', '--log-interval', '60'])).toEqual({ closeTimeoutMs: 2500, rateNoticeIntervalMs: 250, logIntervalMs: 60_000 });
    expect(limitsOf(['--client-rate', '100'])).toEqual({ clientRate: { perSecond: 100, burst: DEFAULT_LIMITS.clientRate.burst } });
    expect(limitsOf(['--client-rate', '100', '--client-burst', '7'])).toEqual({ clientRate: { perSecond: 100, burst: 7 } });
    expect(limitsOf(['--redeem-burst', '3'], { SIDEBAND_RELAY_REDEEM_RATE: '6' })).toEqual({ redeemPerIp: { perMinute: 6, burst: 3 } });
    expect(limitsOf(['--max-sessions-per-daemon', '5'], { SIDEBAND_RELAY_MAX_SESSIONS_PER_DAEMON: '9' })).toEqual({ maxSessionsPerDaemon: 5 });
    expect(limitsOf([], { SIDEBAND_RELAY_MAX_SESSIONS_PER_DAEMON: '' })).toBeUndefined();
  });

  const hostile = ['', ' 5', '5 ', '-1', '+5', '1e3', '0x10', '1_000', '1,000', 'NaN', 'Infinity', '٣', '5\u0000', '99999999999999999999', '١٠'];
  it.each(LIMIT_FLAGS.map((l) => [l.flag, l] as const))('--%s refuses hostile and out-of-range values with exit 2', (_flag, limit) => {
    const values = [...hostile.filter((v) => v !== ''), String(limit.max + 1)];
    if (limit.unit === 'seconds') values.push('0', '0.0001', '1.2345', String(limit.max + 0.001));
    else values.push(String(limit.min - 1), '1.5');
    for (const value of values) {
      const message = usage([`--${limit.flag}=${value}`]);
      expect(message).toContain(`--${limit.flag}`);
      expect(usage([], { [limit.env]: value })).toContain(`--${limit.flag}`);
    }
    expect(usage([`--${limit.flag}`])).toMatch(/needs a value/);
    expect(usage([`--${limit.flag}=1`, `--${limit.flag}=2`])).toMatch(/given twice/);
  });

  it('checks the metrics token and the proxy switch', () => {
    expect(parseRelayArgs(['--trust-proxy'], { SIDEBAND_RELAY_METRICS_TOKEN: 'm'.repeat(16) })).toMatchObject({ options: { trustProxy: true, metricsToken: 'm'.repeat(16) } });
    expect(parseRelayArgs([], { SIDEBAND_RELAY_TRUST_PROXY: '1' })).toMatchObject({ options: { trustProxy: true } });
    expect(usage(['--metrics-token', 'short'])).toMatch(/at least 16/);
    expect(usage(['--metrics-token', 'has a space in it!!'])).toMatch(/without spaces/);
    expect(usage(['--trust-proxy=1'])).toMatch(/takes no value/);
    expect(usage([], { SIDEBAND_RELAY_TRUST_PROXY: 'yes' })).toMatch(/must be 1, 0, true or false/);
  });
});

describe('resolveOptions for library callers', () => {
  it.each([
    [{ redeemPerIp: { perMinute: 0, burst: 1 } }],
    [{ deviceAuthPerIp: { perMinute: 1 } as unknown as RelayLimits['deviceAuthPerIp'] }],
    [{ maxTrackedIps: Number.POSITIVE_INFINITY }],
    [{ maxLogLines: -1 }],
    [{ clientRate: { perSecond: Number.NaN, burst: 1 } }],
  ])('refuses %j', (limits) => {
    expect(() => resolveOptions({ limits })).toThrow(RangeError);
  });

  it('refuses a short metrics token', () => {
    expect(() => resolveOptions({ metricsToken: 'short' })).toThrow(RangeError);
  });
});
