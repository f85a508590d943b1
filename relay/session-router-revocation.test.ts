import { describe, expect, it } from 'vitest';
import { silentLogger } from './logger.js';
import { RelayMetrics } from './metrics.js';
import { DEFAULT_LIMITS } from './options.js';
import { SessionRouter } from './session-router.js';

/** The router's own memory of revoked devices (the end-to-end path is in control-plane/pairing-api.test.ts). */
describe('SessionRouter revocation memory', () => {
  it('refuses upgrades of a revoked principal until its tokens have expired, and stays bounded', () => {
    let now = 0;
    const router = new SessionRouter({
      graceMs: 1000, limits: { ...DEFAULT_LIMITS, maxRememberedSids: 2 }, clockSkewS: 30, maxClientLifetimeS: 300,
      metrics: new RelayMetrics(), logger: silentLogger, now: () => now,
    });
    expect(router.admitClient('d', 1n, 'device:a')).toBeUndefined();
    expect(router.revokePrincipal('device:a')).toBe(0);
    expect(router.admitClient('d', 1n, 'device:a')).toBe('forbidden');
    expect(router.admitClient('d', 1n, 'device:b')).toBeUndefined();
    now = (300 + 60) * 1000 - 1;
    expect(router.admitClient('d', 1n, 'device:a')).toBe('forbidden');
    now += 1;
    expect(router.admitClient('d', 1n, 'device:a')).toBeUndefined();
    router.revokePrincipal('device:1');
    router.revokePrincipal('device:2');
    router.revokePrincipal('device:3'); // over the bound: the oldest is forgotten
    expect(router.admitClient('d', 1n, 'device:1')).toBeUndefined();
    expect(router.admitClient('d', 1n, 'device:3')).toBe('forbidden');
    router.close();
  });
});
