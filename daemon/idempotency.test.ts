/** IdempotencyKeys (bound, TTL, key syntax) and withIdempotency called with `new Request(...)`. */
import { describe, expect, it } from 'vitest';
import { IDEMPOTENCY_DEFAULTS, IdempotencyKeys, isValidIdempotencyKey, withIdempotency } from './idempotency.js';

const UUID = '0b7e4c55-2f7e-4d1a-9d3c-6a1f2b8e9c01';

/** A clock the test moves by hand. */
function manualClock(start = 1_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe('IdempotencyKeys', () => {
  it('claims a key once; a second claim is a duplicate', () => {
    const keys = new IdempotencyKeys();
    expect(keys.maxKeys).toBe(IDEMPOTENCY_DEFAULTS.maxKeys);
    expect(keys.ttlMs).toBe(IDEMPOTENCY_DEFAULTS.ttlMs);
    expect(keys.claim(UUID)).toBe(true);
    expect(keys.claim(UUID)).toBe(false);
    expect(keys.claim(UUID)).toBe(false);
    expect(keys.has(UUID)).toBe(true);
    expect(keys.claim('other')).toBe(true);
    expect(keys.size).toBe(2);
  });

  it('at the bound, a new key evicts the oldest (maxKeys 3: the 4th evicts the 1st)', () => {
    const keys = new IdempotencyKeys({ maxKeys: 3 });
    for (const key of ['k1', 'k2', 'k3']) expect(keys.claim(key)).toBe(true);
    expect(keys.size).toBe(3);
    expect(keys.claim('k4')).toBe(true);
    expect(keys.size).toBe(3);
    expect(keys.has('k1')).toBe(false);
    expect(['k2', 'k3', 'k4'].map((k) => keys.has(k))).toEqual([true, true, true]);
    // A duplicate does not refresh or reorder: k2 is still the oldest and goes next.
    expect(keys.claim('k2')).toBe(false);
    expect(keys.claim('k5')).toBe(true);
    expect(keys.has('k2')).toBe(false);
    expect(['k3', 'k4', 'k5'].map((k) => keys.has(k))).toEqual([true, true, true]);
    // The forgotten k1 counts as new again (the bound trades memory for this).
    expect(keys.claim('k1')).toBe(true);
    expect(keys.size).toBe(3);
  });

  it('stays within maxKeys under a flood of distinct keys', () => {
    const keys = new IdempotencyKeys({ maxKeys: 1_000 });
    for (let i = 0; i < 50_000; i++) keys.claim(`key-${i}`);
    expect(keys.size).toBe(1_000);
    expect(keys.has('key-48999')).toBe(false);
    expect(keys.has('key-49000')).toBe(true);
    expect(keys.has('key-49999')).toBe(true);
  });

  it('forgets a key after ttlMs (injected clock), and drops expired keys from memory', () => {
    const clock = manualClock();
    const keys = new IdempotencyKeys({ ttlMs: 1_000, now: clock.now });
    expect(keys.claim('a')).toBe(true);
    clock.advance(500);
    expect(keys.claim('b')).toBe(true);
    clock.advance(499); // a is 999 ms old: still remembered
    expect(keys.claim('a')).toBe(false);
    clock.advance(1); // a is exactly ttlMs old: expired
    expect(keys.has('a')).toBe(false);
    expect(keys.has('b')).toBe(true);
    expect(keys.claim('c')).toBe(true);
    expect(keys.size).toBe(2); // a pruned, b and c kept
    expect(keys.claim('a')).toBe(true); // new again, now the newest
    clock.advance(600); // b (1100 ms) expired, c (600) and a (600) not
    expect(keys.claim('a')).toBe(false);
    expect(keys.claim('b')).toBe(true);
    clock.advance(10_000);
    expect(keys.claim('z')).toBe(true);
    expect(keys.size).toBe(1); // everything older pruned on this claim
  });

  it('refuses keys that are not 1-128 visible ASCII characters', () => {
    const hostile = [
      '',
      'a'.repeat(129),
      ' ',
      'a b',
      ` ${UUID}`,
      'a\tb',
      'line\nbreak',
      'cr\rlf',
      'nul\0',
      '\x01',
      '\x1f',
      '\x7f',
      'é',
      'caf\u00e9',
      '€',
      '\u{1F600}',
      'x'.repeat(1_000_000),
    ];
    const keys = new IdempotencyKeys();
    for (const key of hostile) {
      expect(isValidIdempotencyKey(key), JSON.stringify(key.slice(0, 20))).toBe(false);
      expect(() => keys.claim(key)).toThrow(TypeError);
    }
    expect(keys.size).toBe(0);
    for (const key of [UUID, 'a', '!', '~', 'a'.repeat(128), '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~']) {
      expect(isValidIdempotencyKey(key), key).toBe(true);
    }
  });

  it('rejects options that cannot work with invalid_config', () => {
    for (const options of [{ maxKeys: 0 }, { maxKeys: -1 }, { maxKeys: 1.5 }, { maxKeys: Number.NaN }, { ttlMs: 0 }, { ttlMs: -5 }, { ttlMs: Number.POSITIVE_INFINITY }]) {
      expect(() => new IdempotencyKeys(options), JSON.stringify(options)).toThrow(expect.objectContaining({ code: 'invalid_config' }));
    }
  });
});

describe('withIdempotency', () => {
  function counting(respond: (request: Request) => Response | Promise<Response> = () => new Response('done', { status: 201 })) {
    const calls: Request[] = [];
    const handler = withIdempotency((request) => {
      calls.push(request);
      return respond(request);
    }, new IdempotencyKeys());
    return { calls, handler };
  }
  const post = (key?: string, method = 'POST') => new Request('http://localhost/api/items', { method, body: method === 'GET' || method === 'HEAD' ? null : 'x', headers: key === undefined ? {} : { 'idempotency-key': key } });

  it('runs a keyed POST once; the replay gets 409 duplicate_request with Sideband-Duplicate', async () => {
    const { calls, handler } = counting();
    const first = await handler(post(UUID));
    expect(first.status).toBe(201);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.headers.get('idempotency-key')).toBe(UUID); // passed on unchanged

    const replay = new Request('http://localhost/api/items', { method: 'POST', body: 'x', headers: { 'idempotency-key': UUID, 'sideband-redelivery': '1' } });
    const second = await handler(replay);
    expect(second.status).toBe(409);
    expect(second.headers.get('sideband-duplicate')).toBe('1');
    expect(second.headers.get('content-type')).toBe('application/json');
    expect(await second.json()).toEqual({
      error: { code: 'duplicate_request', message: `this request (Idempotency-Key ${UUID}) was already delivered to the daemon; it was not executed again` },
    });
    expect(calls).toHaveLength(1);
  });

  it('records the key before the handler runs: a duplicate during the first run is refused', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { calls, handler } = counting(async () => {
      await gate;
      return new Response('late');
    });
    const first = handler(post(UUID));
    // Raced against a timer, so a broken dedup (a second run waiting on the gate) fails here, not by timeout.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const second = await Promise.race([handler(post(UUID)), new Promise<'still running'>((resolve) => (timer = setTimeout(resolve, 1_000, 'still running')))]);
    clearTimeout(timer);
    expect(second).toBeInstanceOf(Response);
    expect((second as Response).status).toBe(409);
    release();
    expect((await first).status).toBe(200);
    expect(calls).toHaveLength(1);
  });

  it('keeps the key after the handler threw (it may have had an effect)', async () => {
    const { calls, handler } = counting(() => {
      throw new Error('boom');
    });
    expect(() => handler(post(UUID))).toThrow('boom');
    expect((await handler(post(UUID))).status).toBe(409);
    expect(calls).toHaveLength(1);
  });

  it('never deduplicates GET, HEAD or OPTIONS, nor requests without the header; PUT, DELETE and PATCH are', async () => {
    const { calls, handler } = counting(() => new Response(null, { status: 204 }));
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'options']) {
      for (let i = 0; i < 2; i++) expect((await handler(post('same-key', method))).status).toBe(204);
    }
    for (let i = 0; i < 2; i++) expect((await handler(post(undefined))).status).toBe(204);
    expect(calls).toHaveLength(10);
    for (const method of ['PUT', 'DELETE', 'PATCH', 'post']) {
      expect((await handler(post(`key-${method}`, method))).status).toBe(204);
      expect((await handler(post(`key-${method}`, method))).status).toBe(409);
    }
    expect(calls).toHaveLength(14);
    // A GET never claims its key: a POST with it later still runs.
    expect((await handler(post('same-key'))).status).toBe(204);
  });

  it('answers a malformed key 400 bad_request without calling the handler', async () => {
    const { calls, handler } = counting();
    const twoKeys = new Headers([
      ['idempotency-key', 'a'],
      ['idempotency-key', 'b'],
    ]); // joined to "a, b": two keys is no key
    for (const headers of [{ 'idempotency-key': '' }, { 'idempotency-key': 'k'.repeat(129) }, { 'idempotency-key': 'a b' }, { 'idempotency-key': 'ctl\x01' }, { 'idempotency-key': 'caf\u00e9' }, twoKeys]) {
      const res = await handler(new Request('http://localhost/x', { method: 'POST', headers }));
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ error: { code: 'bad_request', message: 'Idempotency-Key must be 1-128 visible ASCII characters' } });
    }
    expect(calls).toHaveLength(0);
    // A GET's key is not the daemon's business: passed through whatever it holds.
    expect((await handler(new Request('http://localhost/x', { headers: { 'idempotency-key': 'a b' } }))).status).toBe(201);
  });
});
