import { ConfigError } from '../web/errors.js';
import type { FetchHandler } from './serve-stream.js';

/**
 * At-most-once delivery of non-idempotent requests (`Idempotency-Key`).
 *
 * Why: Chromium re-dispatches the fetch events of a service worker that died to a new worker
 * instance, replaying a buffered POST body (../shared/service-worker.md, Lifetime). The worker
 * stamps every non-idempotent request with `Idempotency-Key: <uuid>` and sends such a replay
 * with the same key (plus `Sideband-Redelivery: 1`). The daemon remembers the keys it has
 * seen for a while and answers a second delivery `409 duplicate_request` without running the
 * handler again: the page learns the request already reached the daemon instead of it silently
 * running twice. Responses are not stored, so the replay cannot get the first answer back.
 *
 * Scope: keys are global to one listener, not per client. The daemon learns nothing about a
 * client but its SBRP session id (the principal is in the client's token, which only the relay
 * sees, sbrp.md §5), and a replay after a worker restart arrives on a NEW session (the new
 * worker instance opens its own), so per-session scoping would miss exactly the duplicates this
 * exists for. Keys are random UUIDs, so distinct clients do not collide; a client that learned
 * another's key could at worst get that key refused, never make anything run twice.
 */

export interface IdempotencyOptions {
  /** Keys remembered at most; the oldest is forgotten first (default 10 000, about 3 MB at worst). */
  maxKeys?: number;
  /** How long a key is remembered (default 10 min, well past a worker restart plus a re-dispatch). */
  ttlMs?: number;
  /** Clock in ms (default `performance.now`, monotonic); tests inject one. */
  now?: () => number;
}

export const IDEMPOTENCY_DEFAULTS = Object.freeze({ maxKeys: 10_000, ttlMs: 10 * 60_000 });

/**
 * Safe methods (RFC 9110 §9.2.1): never deduplicated. PUT and DELETE are idempotent by the RFC,
 * but a handler often is not (a DELETE that logs, a PUT that bumps a version): they are.
 */
const EXEMPT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
export const DUPLICATE_HEADER = 'sideband-duplicate';

/** 1–128 visible ASCII characters (0x21–0x7E): a UUID fits, whitespace, controls and non-ASCII do not. */
const KEY_SYNTAX = /^[\x21-\x7e]{1,128}$/;

export function isValidIdempotencyKey(key: string): boolean {
  return KEY_SYNTAX.test(key);
}

/**
 * A bounded memory of keys seen: an insertion-ordered Map from key to the time it was first
 * seen. Entries are added at the end, so the oldest (and hence the first to expire, the TTL
 * being the same for all) sit at the front; `claim` drops expired ones from the front and, at
 * the bound, the oldest live one. Each key is inserted and deleted once: amortised O(1).
 *
 *   const keys = new IdempotencyKeys({ maxKeys: 3 });
 *   keys.claim('a'); // true: first delivery, run it
 *   keys.claim('a'); // false: seen within the TTL, do not run it again
 */
export class IdempotencyKeys {
  readonly maxKeys: number;
  readonly ttlMs: number;
  private readonly now: () => number;
  private readonly seen = new Map<string, number>();

  constructor(options: IdempotencyOptions = {}) {
    this.maxKeys = options.maxKeys ?? IDEMPOTENCY_DEFAULTS.maxKeys;
    this.ttlMs = options.ttlMs ?? IDEMPOTENCY_DEFAULTS.ttlMs;
    this.now = options.now ?? (() => performance.now());
    if (!Number.isSafeInteger(this.maxKeys) || this.maxKeys < 1) throw new ConfigError(`idempotency.maxKeys must be a positive integer, got ${this.maxKeys}`);
    if (!Number.isFinite(this.ttlMs) || this.ttlMs <= 0) throw new ConfigError(`idempotency.ttlMs must be a positive number of ms, got ${this.ttlMs}`);
  }

  /** Keys currently remembered (expired ones may linger until the next `claim`). */
  get size(): number {
    return this.seen.size;
  }

  /** True while `key` is remembered and not expired. */
  has(key: string): boolean {
    const at = this.seen.get(key);
    return at !== undefined && this.now() - at < this.ttlMs;
  }

  /**
   * Records `key` and returns true if it was not seen within the TTL (first delivery: run the
   * request), false if it was (a duplicate: do not). Throws TypeError for a key that is not
   * 1–128 visible ASCII characters, so nothing unbounded is ever stored.
   */
  claim(key: string): boolean {
    if (!isValidIdempotencyKey(key)) throw new TypeError('Idempotency-Key must be 1-128 visible ASCII characters');
    const now = this.now();
    this.prune(now);
    const at = this.seen.get(key);
    if (at !== undefined && now - at < this.ttlMs) return false;
    // An expired entry was pruned above (it sat in front of every live one); re-adding puts the
    // key at the end, in time order.
    this.seen.delete(key);
    while (this.seen.size >= this.maxKeys) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(key, now);
    return true;
  }

  /** Forgets every key. */
  clear(): void {
    this.seen.clear();
  }

  private prune(now: number): void {
    for (const [key, at] of this.seen) {
      if (now - at < this.ttlMs) return;
      this.seen.delete(key);
    }
  }
}

function jsonError(status: number, code: string, message: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ error: { code, message } }), { status, headers: { 'content-type': 'application/json', ...headers } });
}

/**
 * Wraps a fetch handler with `Idempotency-Key` deduplication (what `listen()` does unless its
 * `idempotency` option is false). For a request whose method is not GET, HEAD or OPTIONS and
 * that carries the header:
 * - a key that is not 1–128 visible ASCII characters → `400 bad_request`, handler not called;
 * - a key seen within the TTL (even one whose first delivery is still running) →
 *   `409 duplicate_request` with `Sideband-Duplicate: 1`, handler not called;
 * - otherwise the key is recorded before the handler is called, so concurrent duplicates run
 *   once. The key stays recorded whatever the handler does (a throw may come after a side
 *   effect): a client that wants to retry a failed request sends a new key.
 * The request reaches the handler unchanged, header included. Other requests pass through.
 *
 *   const handler = withIdempotency(app.fetch, new IdempotencyKeys());
 */
export function withIdempotency(handler: FetchHandler, keys: IdempotencyKeys): FetchHandler {
  return (request) => {
    const key = request.headers.get(IDEMPOTENCY_KEY_HEADER);
    if (key === null || EXEMPT_METHODS.has(request.method.toUpperCase())) return handler(request);
    if (!isValidIdempotencyKey(key)) return jsonError(400, 'bad_request', 'Idempotency-Key must be 1-128 visible ASCII characters');
    if (!keys.claim(key)) {
      return jsonError(409, 'duplicate_request', `this request (Idempotency-Key ${key}) was already delivered to the daemon; it was not executed again`, {
        [DUPLICATE_HEADER]: '1',
      });
    }
    return handler(request);
  };
}
