import { generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestRelay } from './testing/harness.js';

/** sbrp.md §5: authentication happens before the WebSocket upgrade, with plain HTTP statuses. */

describe('authentication before the upgrade', () => {
  let t: TestRelay;
  let daemonId: string;
  beforeEach(async () => {
    t = await TestRelay.start({ allowedOrigins: ['https://app.example'] });
    ({ daemonId } = await t.registerDaemon());
  });
  afterEach(async () => {
    await t.close();
  });

  const refused = async (token: string | undefined, status: number, reason?: string, viaQuery = false): Promise<void> => {
    const result = await t.connect({ ...(token === undefined ? {} : { token }), viaQuery });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.status).toBe(status);
    expect(JSON.parse(result.body).error.code).toBeTypeOf('string');
    if (reason) expect(t.relay.metrics.tokensRejected.get(reason as never)).toBe(1);
  };

  it('accepts a valid presence token by header and a client token by ?token=', async () => {
    const daemon = await t.open(await t.daemonToken(daemonId));
    const { token } = await t.clientToken(daemonId);
    const client = await t.open(token, { viaQuery: true });
    expect(daemon.ws.readyState).toBe(daemon.ws.OPEN);
    expect(client.ws.readyState).toBe(client.ws.OPEN);
  });

  it('refuses a missing token with 401', () => refused(undefined, 401, 'missing'));
  it('refuses garbage with 401', () => refused('not.a.jwt', 401, 'malformed'));

  it('refuses an expired token (beyond 30 s skew) with 401', async () => {
    const now = Math.floor(Date.now() / 1000);
    await refused(await t.sign(t.claims('client', daemonId, { iat: now - 100, exp: now - 31 })), 401, 'expired');
  });

  it('accepts a token expired by less than the 30 s skew', async () => {
    const now = Math.floor(Date.now() / 1000);
    const result = await t.connect({ token: await t.sign(t.claims('daemon', daemonId, { iat: now - 100, exp: now - 20 })) });
    expect(result.ok).toBe(true);
  });

  it('refuses a token signed by another key with 401', async () => {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const forged = await new SignJWT(t.claims('daemon', daemonId)).setProtectedHeader({ alg: 'EdDSA', typ: 'sbrp-relay+jwt', kid: t.kid }).sign(privateKey);
    await refused(forged, 401, 'bad_signature');
  });

  it('refuses alg none with 401', async () => {
    const unsecured = new UnsecuredJWT(t.claims('daemon', daemonId)).encode();
    await refused(unsecured, 401, 'bad_alg');
  });

  it('refuses a wrong audience with 401', async () => {
    await refused(await t.sign(t.claims('daemon', daemonId, { aud: 'someone-else' })), 401, 'bad_aud');
  });

  it('refuses a wrong typ with 401', async () => {
    await refused(await t.sign(t.claims('daemon', daemonId), { typ: 'JWT' }), 401, 'bad_typ');
  });

  it('refuses an over-long token with 401 before parsing it', async () => {
    const padded = await t.sign(t.claims('daemon', daemonId, { pad: 'x'.repeat(4100) }));
    await refused(padded, 401, 'too_long', true);
  });

  it('refuses a daemon token for an unregistered daemon with 403', async () => {
    await refused(await t.sign(t.claims('daemon', 'dmn_ffffffffffffffffffffffff')), 403);
  });

  it('refuses a daemon token whose sub is not its did with 403', async () => {
    await refused(await t.sign(t.claims('daemon', daemonId, { sub: 'someone' })), 403);
  });

  it('refuses a reused sid with 409, while live and after the session ended', async () => {
    await t.open(await t.daemonToken(daemonId));
    const { token } = await t.clientToken(daemonId);
    const first = await t.open(token);
    await refused(token, 409);
    first.ws.close();
    await first.closedWithin();
    await refused(token, 409); // a token is single-use (sbrp.md §5: new sid per attempt)
  });

  it('refuses a foreign Origin with 403 and allows a listed one or none', async () => {
    const token = await t.daemonToken(daemonId);
    const bad = await t.connect({ token, headers: { origin: 'https://evil.example' } });
    expect(bad.ok ? 0 : bad.status).toBe(403);
    const good = await t.connect({ token, headers: { origin: 'https://app.example' } });
    expect(good.ok).toBe(true);
  });

  it('answers other paths with 404 and a plain GET of /v1/connect with 426', async () => {
    const other = await t.connect({ token: await t.daemonToken(daemonId), path: '/v1/other' });
    expect(other.ok ? 0 : other.status).toBe(404);
    const res = await fetch(`${t.relay.url}/v1/connect`);
    expect(res.status).toBe(426);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('upgrade_required');
  });

  it('counts refusals by status and reason in /metrics', async () => {
    await refused(undefined, 401);
    await refused(await t.sign(t.claims('daemon', daemonId, { aud: 'x' })), 401);
    const text = await t.metricsText();
    expect(text).toContain('sbrp_relay_tokens_rejected_total{reason="missing"} 1');
    expect(text).toContain('sbrp_relay_tokens_rejected_total{reason="bad_aud"} 1');
    expect(text).toContain('sbrp_relay_upgrades_rejected_total{status="401"} 2');
  });
});
