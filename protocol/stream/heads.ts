import { StreamError } from './stream-error.js';
import { decodePacked, encodePacked } from './inner-frame.js';
import { INNER_VERSIONS } from './stream-codes.js';
import { stripConnectionHeaders } from './connection-headers.js';

/** Structured bodies of HELLO, OPEN, HEAD and EVENT frames, validated on decode (docs/protocol.md §3). */

export type HeaderList = [string, string][];

export interface HelloBody {
  versions: number[];
  streamWindow: number;
  sessionWindow: number;
  maxStreams: number;
  maxHeadBytes: number;
  maxMessageBytes: number;
  capabilities: string[];
}

export interface OpenHead {
  kind: 'http' | 'channel';
  /** HTTP method (http streams only). */
  method?: string;
  /** Path and query, starting with '/'. */
  path: string;
  headers: HeaderList;
}

export interface ResponseHead {
  status: number;
  headers: HeaderList;
}

export interface EventBody {
  name: string;
  data: unknown;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Header names travel lower-case, as in HTTP/2 (RFC 9113 §8.2.1): one spelling, nothing to fold.
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
// Header values: visible ASCII, space, tab and obs-text; never CR, LF or NUL (header injection).
const VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const PATH = /^\/[\x21-\x7e]*$/;
const MAX_HEADERS = 256;
const MAX_PATH = 16 * 1024;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(what: string, why: string): never {
  throw new StreamError('protocol', `${what}: ${why}`);
}

function uint(value: unknown, what: string, min = 0): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value > 0xffffffff || value < 0) fail(what, `expected an unsigned 32-bit integer, got ${describe(value)}`);
  if (value < min) fail(what, `must be at least ${min}, got ${value}`);
  return value;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing (the key is required)';
  return typeof value === 'number' ? String(value) : typeof value;
}

export function validateHeaders(value: unknown, what: string): HeaderList {
  if (!Array.isArray(value) || value.length > MAX_HEADERS) fail(what, `headers must be an array of at most ${MAX_HEADERS} pairs`);
  return value.map((pair) => {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
      fail(what, 'each header must be a [name, value] pair of strings');
    }
    if (!HEADER_NAME.test(pair[0])) fail(what, `invalid header name ${JSON.stringify(pair[0].slice(0, 40))} (a lower-case HTTP token)`);
    if (!VALUE.test(pair[1])) fail(what, `invalid characters in header ${pair[0]}`);
    return [pair[0], pair[1]] as [string, string];
  });
}

/** Validated pairs minus connection headers (docs/protocol.md §3): never sent, dropped on arrival. */
function messageHeaders(value: unknown, what: string): HeaderList {
  return stripConnectionHeaders(validateHeaders(value ?? [], what));
}

export function encodeHello(hello: HelloBody): Uint8Array {
  return encodePacked(hello);
}

export function decodeHello(body: Uint8Array): HelloBody {
  const v = decodePacked(body, 'HELLO');
  if (!isRecord(v)) fail('HELLO', 'expected a map');
  if (!Array.isArray(v.versions) || v.versions.length === 0 || v.versions.length > 16) fail('HELLO', 'versions must be a non-empty array');
  const versions = v.versions.map((x) => uint(x, 'HELLO version'));
  const capabilities = Array.isArray(v.capabilities) ? v.capabilities.filter((c): c is string => typeof c === 'string').slice(0, 64) : [];
  return {
    versions,
    streamWindow: uint(v.streamWindow, 'HELLO streamWindow', 1024),
    sessionWindow: uint(v.sessionWindow, 'HELLO sessionWindow', 1024),
    maxStreams: uint(v.maxStreams, 'HELLO maxStreams', 1),
    maxHeadBytes: uint(v.maxHeadBytes, 'HELLO maxHeadBytes', 256),
    maxMessageBytes: uint(v.maxMessageBytes, 'HELLO maxMessageBytes', 1),
    capabilities,
  };
}

/** Highest version both sides speak, or undefined. */
export function negotiateVersion(theirs: readonly number[], ours: readonly number[] = INNER_VERSIONS): number | undefined {
  const common = ours.filter((v) => theirs.includes(v));
  return common.length ? Math.max(...common) : undefined;
}

/**
 * Version 2 (docs/protocol.md §3): an OPEN or HEAD may carry the sender's first body bytes
 * (`body`) and the end of its side (`end`), so a small exchange needs one frame each way.
 */
export interface InlineBody {
  /** Body bytes, at least 1, delivered before any DATA; credit counts them as DATA. */
  body?: Uint8Array;
  /** The sender's side ends here, as if END followed. */
  end: boolean;
}

const NO_INLINE: InlineBody = Object.freeze({ end: false });

/** The head map `map` (as encoded by encodeOpen/encodeResponseHead) with `end` and `body` appended. */
export function withInline(map: Uint8Array, inline: InlineBody): Uint8Array {
  const extra = encodePacked(inline.body ? (inline.end ? { end: true, body: inline.body } : { body: inline.body }) : { end: true });
  // Both are fixmaps (our heads have at most 4 keys, plus 2): one map of their entries.
  const entries = (map[0]! & 0x0f) + (extra[0]! & 0x0f);
  if ((map[0]! & 0xf0) !== 0x80 || entries > 15) throw new StreamError('internal', 'head map too large to carry a body');
  const out = new Uint8Array(map.length + extra.length - 1);
  out[0] = 0x80 | entries;
  out.set(map.subarray(1), 1);
  out.set(extra.subarray(1), map.length);
  return out;
}

function decodeInline(v: Record<string, unknown>, what: string): InlineBody {
  if (v.end === undefined && v.body === undefined) return NO_INLINE;
  if (v.end !== undefined && typeof v.end !== 'boolean') fail(what, 'end must be a boolean');
  if (v.body !== undefined && (!(v.body instanceof Uint8Array) || v.body.length === 0)) fail(what, 'body must be binary of at least 1 byte');
  return v.body === undefined ? { end: v.end === true } : { body: v.body as Uint8Array, end: v.end === true };
}

/** OPEN body with its version-2 inline part (read only when `inline`: in version 1 the keys are unknown, so ignored). */
export function decodeOpenFrame(body: Uint8Array, inline: boolean): { head: OpenHead; inline: InlineBody } {
  const v = decodePacked(body, 'OPEN');
  const head = validateOpen(v);
  return { head, inline: inline ? decodeInline(v as Record<string, unknown>, 'OPEN') : NO_INLINE };
}

/** HEAD body with its version-2 inline part (see decodeOpenFrame). */
export function decodeResponseFrame(body: Uint8Array, inline: boolean): { head: ResponseHead; inline: InlineBody } {
  const v = decodePacked(body, 'HEAD');
  const head = validateResponse(v);
  return { head, inline: inline ? decodeInline(v as Record<string, unknown>, 'HEAD') : NO_INLINE };
}

export function encodeOpen(head: OpenHead): Uint8Array {
  const v = validateOpen(head);
  return encodePacked(v.kind === 'http' ? { kind: v.kind, method: v.method, path: v.path, headers: v.headers } : { kind: v.kind, path: v.path, headers: v.headers });
}

export function decodeOpen(body: Uint8Array): OpenHead {
  return validateOpen(decodePacked(body, 'OPEN'));
}

function validateOpen(v: unknown): OpenHead {
  if (!isRecord(v)) fail('OPEN', 'expected a map');
  if (v.kind !== 'http' && v.kind !== 'channel') fail('OPEN', 'kind must be "http" or "channel"');
  if (typeof v.path !== 'string' || v.path.length > MAX_PATH || !PATH.test(v.path)) fail('OPEN', 'path must start with "/" and hold no spaces or control characters');
  const headers = messageHeaders(v.headers, 'OPEN');
  if (v.kind === 'channel') return { kind: 'channel', path: v.path, headers };
  if (typeof v.method !== 'string' || !TOKEN.test(v.method) || v.method.length > 32) fail('OPEN', 'method must be an HTTP token');
  return { kind: 'http', method: v.method, path: v.path, headers };
}

export function encodeResponseHead(head: ResponseHead): Uint8Array {
  const v = validateResponse(head);
  return encodePacked({ status: v.status, headers: v.headers });
}

export function decodeResponseHead(body: Uint8Array): ResponseHead {
  return validateResponse(decodePacked(body, 'HEAD'));
}

function validateResponse(v: unknown): ResponseHead {
  if (!isRecord(v)) fail('HEAD', 'expected a map');
  if (typeof v.status !== 'number' || !Number.isInteger(v.status) || v.status < 100 || v.status > 599) fail('HEAD', 'status must be an integer 100..599');
  return { status: v.status, headers: messageHeaders(v.headers, 'HEAD') };
}

export function encodeEvent(event: EventBody): Uint8Array {
  validateEventName(event.name);
  return encodePacked({ name: event.name, data: event.data ?? null });
}

export function decodeEvent(body: Uint8Array): EventBody {
  const v = decodePacked(body, 'EVENT');
  if (!isRecord(v) || typeof v.name !== 'string') fail('EVENT', 'expected a map with a name');
  validateEventName(v.name);
  return { name: v.name, data: v.data ?? null };
}

function validateEventName(name: string): void {
  if (name.length === 0 || name.length > 256 || !/^[\x21-\x7e]+$/.test(name)) fail('EVENT', 'name must be 1..256 visible ASCII characters');
}
