import { createHash } from 'node:crypto';
import type { ChannelData, Channel } from '../web/channel.js';
import type { ChannelHandler } from './route-stream.js';
import type { FetchHandler } from './serve-stream.js';

/** Sends a daemon event to every connected client; returns how many sessions got it (`Listener.publish`). */
export type Publish = (name: string, data?: unknown) => number;

export interface DemoAppOptions {
  /** Interval between `/api/clock` ticks (default 1 s). */
  tickMs?: number;
  /** Ticks before `/api/clock` ends (default 60; `?n=` asks for fewer). */
  maxTicks?: number;
  /** Interval between the words of `/api/agent` (default 40 ms). */
  wordMs?: number;
  now?: () => Date;
  /** Where `/api/broadcast`, `/api/upload` and the terminal's `say` send events; without it they send none. */
  publish?: Publish;
}

export const DEMO_LIMITS = Object.freeze({
  /** Words in one `/api/agent` answer. */
  agentWords: 60,
  /** Largest `/api/download?mb=`. */
  downloadMiB: 1024,
  /** Bytes per download chunk: one is generated each time the reader wants more. */
  downloadChunk: 64 * 1024,
  /** Characters of a `/api/broadcast` text. */
  broadcastChars: 280,
});

const MIB = 1024 * 1024;
const encoder = new TextEncoder();
const json = (value: unknown, status = 200): Response => Response.json(value, { status, headers: { 'cache-control': 'no-store' } });
const problem = (status: number, code: string, message: string): Response => json({ error: { code, message } }, status);

/**
 * The daemon CLI's built-in app when neither `--proxy` nor `--echo` is given, and what `npm
 * start` serves to the demo web app. A plain WHATWG handler, no framework, to show the daemon's
 * whole contract (style.md §2):
 *
 *   GET  /api/hello?name=x     → {"hello":"x"}
 *   POST /api/echo             → the request body streamed back, same content-type
 *   GET  /api/clock?n=5        → Server-Sent Events, one `tick` per second, n ticks
 *   GET  /api/agent?prompt=…   → a text/plain answer streamed one word at a time (≤ 60 words)
 *   GET  /api/files            → {"files":[{name, size, modifiedAt}]} (fake entries)
 *   GET  /api/download?mb=N    → N MiB (1–1024) of deterministic bytes, generated as they are read
 *   POST /api/upload           → {"bytes", "sha256"} of the streamed request body; event `upload`
 *   POST /api/broadcast        → {"text"} as event `message` to every connected client
 *   anything else              → 404 {"error":{"code":"not_found"}}
 */
export function demoApp(options: DemoAppOptions = {}): FetchHandler {
  const tickMs = options.tickMs ?? 1000;
  const maxTicks = options.maxTicks ?? 60;
  const wordMs = options.wordMs ?? 40;
  const now = options.now ?? (() => new Date());
  const publish = options.publish ?? (() => 0);
  return async (request) => {
    const url = new URL(request.url);
    const route = `${request.method} ${url.pathname}`;
    switch (route) {
      case 'GET /api/hello':
        return json({ hello: url.searchParams.get('name') ?? 'world' });
      case 'POST /api/echo':
        return new Response(request.body, { headers: { 'content-type': request.headers.get('content-type') ?? 'application/octet-stream' } });
      case 'GET /api/clock': {
        const asked = Number.parseInt(url.searchParams.get('n') ?? '', 10);
        const ticks = Number.isInteger(asked) && asked > 0 ? Math.min(asked, maxTicks) : maxTicks;
        const tick = (n: number) => `event: tick\nid: ${n}\ndata: ${JSON.stringify({ n, time: now().toISOString() })}\n\n`;
        return new Response(paced(ticks, tickMs, tick, request.signal), { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store' } });
      }
      case 'GET /api/agent': {
        const words = agentAnswer(url.searchParams.get('prompt') ?? '');
        const word = (n: number) => (n === words.length - 1 ? `${words[n]}\n` : `${words[n]} `);
        return new Response(paced(words.length, wordMs, word, request.signal), { headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' } });
      }
      case 'GET /api/files':
        return json({ files: FILES });
      case 'GET /api/download': {
        const mb = url.searchParams.get('mb') ?? '';
        // Digits only: `1e3`, `0x10`, ` 5`, `-1` and `1.5` are all refused rather than coerced.
        if (!/^\d{1,4}$/.test(mb) || Number(mb) < 1 || Number(mb) > DEMO_LIMITS.downloadMiB) {
          return problem(400, 'bad_request', `mb must be a whole number from 1 to ${DEMO_LIMITS.downloadMiB}`);
        }
        const bytes = Number(mb) * MIB;
        return new Response(download(bytes), {
          headers: {
            'content-type': 'application/octet-stream',
            'content-length': String(bytes),
            'content-disposition': `attachment; filename="sideband-${mb}MiB.bin"`,
            'cache-control': 'no-store',
          },
        });
      }
      case 'POST /api/upload': {
        const digest = await digestBody(request.body);
        publish('upload', digest);
        return json(digest);
      }
      case 'POST /api/broadcast': {
        const text = await broadcastText(request);
        if (typeof text !== 'string') return text;
        const at = now().toISOString();
        return json({ delivered: publish('message', { text, at, from: 'web' }) }, 202);
      }
      default:
        return problem(404, 'not_found', `${route} is not served here`);
    }
  };
}

/**
 * The demo's channel handlers, for `listen({ onChannel: demoChannels() })`:
 *
 *   /term   a line-oriented terminal: `help`, `date`, `echo TEXT`, `say TEXT` (an event to every
 *           client); any other line is echoed back. One answer message per non-empty line.
 */
export function demoChannels(options: Pick<DemoAppOptions, 'now' | 'publish'> = {}): Record<string, ChannelHandler> {
  const now = options.now ?? (() => new Date());
  const publish = options.publish ?? (() => 0);
  const run = (line: string): string => {
    const [command = '', ...rest] = line.trim().split(/\s+/);
    const argument = line.trim().slice(command.length).trim();
    switch (command) {
      case 'help':
        return 'commands: help, date, echo TEXT, say TEXT (an event to every tab); anything else is echoed back';
      case 'date':
        return now().toISOString();
      case 'echo':
        return argument;
      case 'say':
        if (rest.length === 0) return 'usage: say TEXT';
        // Events are small (32 KiB at most, docs/protocol.md); a channel message may be far larger.
        if (argument.length > DEMO_LIMITS.broadcastChars) return `say: at most ${DEMO_LIMITS.broadcastChars} characters`;
        return `sent to ${publish('message', { text: argument, at: now().toISOString(), from: 'terminal' })} session(s)`;
      default:
        return line;
    }
  };
  const terminal = async (channel: Channel): Promise<void> => {
    const decoder = new TextDecoder();
    for await (const message of channel) {
      for (const line of asText(message, decoder).split(/\r?\n/)) {
        if (line.trim() !== '') await channel.send(run(line));
      }
    }
  };
  return { '/term': terminal };
}

const asText = (message: ChannelData, decoder: TextDecoder): string => (typeof message === 'string' ? message : decoder.decode(message));

const FILES = Object.freeze([
  { name: 'README.md', size: 30_426, modifiedAt: '2025-11-30T11:52:00Z' },
  { name: 'notes/todo.txt', size: 812, modifiedAt: '2025-11-29T08:15:00Z' },
  { name: 'reports/q3.pdf', size: 1_482_113, modifiedAt: '2025-10-02T16:40:00Z' },
  { name: 'photos/relay.jpg', size: 2_310_554, modifiedAt: '2025-09-14T19:03:00Z' },
  { name: 'src/agent.ts', size: 4_096, modifiedAt: '2025-11-28T21:30:00Z' },
]);

// Short enough that even the longest opening (`You asked:` and 12 words of prompt) leaves the
// answer whole within DEMO_LIMITS.agentWords.
const AGENT_TEXT =
  'Each word of this answer left the daemon as its own chunk, crossed the relay encrypted end to end, ' +
  'and reached this tab through the service worker while the rest was still being written. ' +
  'The relay saw only ciphertext.';

/** The words of the agent's answer: the prompt (at most 12 words of 40 characters) and a canned text. */
function agentAnswer(prompt: string): string[] {
  const asked = prompt.trim().split(/\s+/).filter(Boolean).slice(0, 12).map((w) => w.slice(0, 40));
  const opening = asked.length > 0 ? ['You', 'asked:', `“${asked.join(' ')}”.`] : ['Hello.'];
  return [...opening.join(' ').split(' '), ...AGENT_TEXT.split(' ')].slice(0, DEMO_LIMITS.agentWords);
}

/**
 * `count` text pieces, the first at once and then one per `intervalMs`. Each is produced only
 * when the reader asks for it, and nothing more once the client goes away (`signal`).
 */
function paced(count: number, intervalMs: number, piece: (n: number) => string, signal: AbortSignal): ReadableStream<Uint8Array> {
  let sent = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (signal.aborted) return controller.close(); // nobody reads any more
      return new Promise<void>((resolve) => {
        const emit = () => {
          signal.removeEventListener('abort', onAbort);
          controller.enqueue(encoder.encode(piece(sent)));
          if (++sent >= count) controller.close();
          resolve();
        };
        const onAbort = () => {
          clearTimeout(timer);
          resolve();
        };
        signal.addEventListener('abort', onAbort, { once: true });
        timer = setTimeout(emit, sent === 0 ? 0 : intervalMs);
      });
    },
    cancel() {
      clearTimeout(timer);
    },
  });
}

/** One fixed pseudo-random block (xorshift32), so generating a chunk is a copy, not a computation. */
const BLOCK = (() => {
  const block = new Uint8Array(DEMO_LIMITS.downloadChunk);
  let x = 0x9e3779b9;
  for (let i = 0; i < block.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    block[i] = x & 0xff;
  }
  return block;
})();

/**
 * `total` deterministic bytes: each 64 KiB chunk is BLOCK with its chunk index in the first 8
 * bytes (big-endian), so a lost, repeated or reordered chunk changes the digest. A chunk is made
 * only when the consumer pulls (high-water mark one chunk): a slow reader holds the producer,
 * and the body is never in memory as a whole.
 */
function download(total: number): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        const size = Math.min(DEMO_LIMITS.downloadChunk, total - offset);
        const chunk = BLOCK.slice(0, size);
        new DataView(chunk.buffer).setBigUint64(0, BigInt(offset / DEMO_LIMITS.downloadChunk));
        controller.enqueue(chunk);
        offset += size;
        if (offset >= total) controller.close();
      },
    },
    { highWaterMark: 1 },
  );
}

/** Byte count and SHA-256 (hex) of a body, read as it streams in. */
async function digestBody(body: ReadableStream<Uint8Array> | null): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const reader = body?.getReader();
  for (;;) {
    const next = await reader?.read();
    if (!next || next.done) break;
    hash.update(next.value);
    bytes += next.value.byteLength;
  }
  return { bytes, sha256: hash.digest('hex') };
}

/** The `text` of a `/api/broadcast` body, or the error response. The body is read only up to a small bound. */
async function broadcastText(request: Request): Promise<string | Response> {
  const limit = DEMO_LIMITS.broadcastChars * 4 + 64; // UTF-8 worst case plus the JSON around it
  const raw = await readAtMost(request.body, limit);
  if (raw === undefined) return problem(413, 'payload_too_large', `the body must be at most ${limit} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return problem(400, 'invalid_json', 'the body must be JSON: {"text":"…"}');
  }
  const value = (parsed as { text?: unknown } | null)?.text;
  if (typeof value !== 'string' || value.trim() === '' || value.length > DEMO_LIMITS.broadcastChars) {
    return problem(400, 'bad_request', `text must be a non-empty string of at most ${DEMO_LIMITS.broadcastChars} characters`);
  }
  return value.trim();
}

/** The body as text, or undefined when it is longer than `limit` bytes (reading stops there). */
async function readAtMost(body: ReadableStream<Uint8Array> | null, limit: number): Promise<string | undefined> {
  if (!body) return '';
  const parts: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(parts).toString('utf8');
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    parts.push(value);
  }
}
