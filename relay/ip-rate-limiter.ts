import type { IncomingMessage } from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';
import type { PerIpRate } from './options.js';

/**
 * Per-client-address token buckets for the control plane's unauthenticated routes (hardening
 * issue: Quick Connect redeem, device challenge, device token). Bounded (style.md 7): at most
 * `maxEntries` addresses are tracked; past that the least recently seen one is forgotten (a
 * Map keeps insertion order, and every hit re-inserts its key). Forgetting an address only
 * gives it a fresh bucket, so the bound costs at most one burst per eviction.
 *
 * @example
 * const limiter = new IpRateLimiter({ perMinute: 30, burst: 10 }, 10_000, Date.now);
 * const wait = limiter.take('203.0.113.7'); // 0 when allowed, else seconds for Retry-After
 */
export class IpRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; last: number }>();
  private readonly rate: PerIpRate;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(rate: PerIpRate, maxEntries: number, now: () => number) {
    this.rate = rate;
    this.maxEntries = maxEntries;
    this.now = now;
  }

  /** Takes one request from `key`'s bucket: 0 when allowed, else whole seconds until one is (≥ 1). */
  take(key: string): number {
    const now = this.now();
    const perMs = this.rate.perMinute / 60_000;
    let bucket = this.buckets.get(key);
    if (bucket) {
      this.buckets.delete(key);
      bucket.tokens = Math.min(this.rate.burst, bucket.tokens + Math.max(0, now - bucket.last) * perMs);
      bucket.last = now;
    } else {
      bucket = { tokens: this.rate.burst, last: now };
      if (this.buckets.size >= this.maxEntries) this.buckets.delete(this.buckets.keys().next().value!);
    }
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000));
  }

  /** Addresses tracked now (never more than `maxEntries`). */
  get size(): number {
    return this.buckets.size;
  }
}

/**
 * The address a per-IP limit counts a request against: the socket's peer, or with `trustProxy`
 * the last valid `X-Forwarded-For` entry (appended by the nearest proxy; earlier entries are
 * whatever the client sent). IPv4-mapped IPv6 becomes IPv4, and IPv6 is grouped by /64, the
 * smallest block a single subscriber is usually given, so one host cannot rotate addresses
 * within its own prefix to get new buckets.
 *
 * Undefined (not limited) for a loopback peer: that is either a process on the relay's own host,
 * which could do more harm than this limit prevents, or a reverse proxy on the same host, where
 * one shared bucket would throttle every user at once (use `trustProxy` there to limit per user).
 */
export function clientAddressKey(req: IncomingMessage, trustProxy: boolean): string | undefined {
  let address = req.socket.remoteAddress ?? '';
  if (trustProxy) {
    const header = req.headers['x-forwarded-for'];
    const list = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',');
    const last = list[list.length - 1]!.trim();
    if (addressKey(last) !== undefined) address = last;
  }
  const key = addressKey(address);
  if (key === undefined) return 'unknown';
  return key.startsWith('127.') || isIPv6Loopback(address) ? undefined : key;
}

/** `::1` in any spelling. */
function isIPv6Loopback(address: string): boolean {
  const text = address.replace(/%.*$/, '').toLowerCase();
  if (!isIPv6(text)) return false;
  const groups = expandIPv6(text);
  return groups.slice(0, 7).every((g) => g === 0) && groups[7] === 1;
}

/** `1.2.3.4` → itself; `::ffff:1.2.3.4` → `1.2.3.4`; other IPv6 → its /64 prefix; else undefined. */
export function addressKey(address: string): string | undefined {
  const text = address.length > 64 ? '' : address.replace(/%.*$/, '');
  if (isIPv4(text)) return text;
  if (!isIPv6(text)) return undefined;
  const groups = expandIPv6(text.toLowerCase());
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`;
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}

/** Eight 16-bit groups of a valid IPv6 address (a dotted IPv4 tail becomes two groups, `::` is expanded). */
function expandIPv6(text: string): number[] {
  const body = text.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a: string, b: string, c: string, d: string) =>
    `${((Number(a) << 8) | Number(b)).toString(16)}:${((Number(c) << 8) | Number(d)).toString(16)}`);
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const gap = body.indexOf('::');
  if (gap === -1) return parse(body);
  const left = parse(body.slice(0, gap));
  const right = parse(body.slice(gap + 2));
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}
