import { createHash } from 'node:crypto';
import { listen } from '../../daemon/listen.js';
import type { Listener, ListenOptions } from '../../daemon/listen-types.js';
import { connect, type ConnectOptions, type SidebandClient } from '../../client/connect.js';
import { MemoryPinStore } from '../../client/pin-store.js';
import { FAST_RECONNECT, startRelayFixture, type RegisteredTestDaemon, type RelayFixture } from './relay-fixture.js';
import type { RelayOptions } from '../../relay/index.js';

/**
 * A real relay on port 0, one registered daemon served by `listen()`, and `connect()` clients,
 * all in this process over real sockets. `close()` releases everything.
 */
export interface HttpFixture {
  fx: RelayFixture;
  reg: RegisteredTestDaemon;
  server: Listener;
  client(options?: Partial<ConnectOptions>): SidebandClient;
  close(): Promise<void>;
}

export async function startHttpFixture(options: Partial<ListenOptions> & Pick<ListenOptions, 'fetch'>, relayOptions: RelayOptions = {}): Promise<HttpFixture> {
  const fx = await startRelayFixture(relayOptions);
  const reg = await fx.registerDaemon();
  const server = await listen({ relay: fx.relay.url, apiKey: reg.apiKey, identity: reg.identity, reconnect: FAST_RECONNECT, ...options });
  const clients: SidebandClient[] = [];
  return {
    fx,
    reg,
    server,
    client(clientOptions = {}) {
      const client = connect({ relay: fx.relay.url, daemonId: reg.daemonId, getToken: fx.tokens(reg), pinStore: new MemoryPinStore(), reconnect: FAST_RECONNECT, ...clientOptions });
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.all(clients.splice(0).map((c) => c.close()));
      await server.close();
      await fx.close();
    },
  };
}

/** Word `index` of the pattern stream for `seed`: a hash of the index, so any offset is cheap to seek. */
function patternWord(index: number, seed: number): number {
  let x = (index ^ Math.imul(seed, 0x9e3779b1)) >>> 0;
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return Math.imul(x ^ (x >>> 16), 0x45d9f3b) >>> 0;
}

/**
 * Deterministic pseudo-random bytes: byte `p` of the stream is byte `p & 3` (little-endian) of
 * word `p >> 2`. Both ends can produce or check any range without holding the whole body.
 */
export function fillPattern(target: Uint8Array, seed: number, offset: number): void {
  let i = 0;
  if ((offset & 3) === 0 && (target.byteOffset & 3) === 0 && new Uint8Array(new Uint32Array([1]).buffer)[0] === 1) {
    const words = target.length >>> 2;
    const view = new Uint32Array(target.buffer, target.byteOffset, words);
    const first = offset >>> 2;
    for (let k = 0; k < words; k++) view[k] = patternWord(first + k, seed);
    i = words * 4;
  }
  for (; i < target.length; i++) {
    const position = offset + i;
    target[i] = (patternWord(position >>> 2, seed) >>> ((position & 3) * 8)) & 0xff;
  }
}

/** A body of `size` pattern bytes, produced chunk by chunk on demand (pull), with a produced-bytes counter. */
export function patternStream(size: number, seed: number, chunkSize = 64 * 1024): { stream: ReadableStream<Uint8Array>; produced: () => number; cancelled: Promise<unknown> } {
  let offset = 0;
  let onCancel!: (reason: unknown) => void;
  const cancelled = new Promise<unknown>((resolve) => (onCancel = resolve));
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (offset >= size) return controller.close();
        const chunk = new Uint8Array(Math.min(chunkSize, size - offset));
        fillPattern(chunk, seed, offset);
        offset += chunk.length;
        controller.enqueue(chunk);
      },
      cancel(reason) {
        onCancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, produced: () => offset, cancelled };
}

export function patternBytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  fillPattern(out, seed, 0);
  return out;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Reads a body to the end, hashing as it goes; returns the hash and length. */
export async function hashBody(body: ReadableStream<Uint8Array> | null, onChunk?: (bytes: number) => void): Promise<{ sha256: string; length: number }> {
  const hash = createHash('sha256');
  let length = 0;
  if (body) {
    for await (const chunk of body) {
      hash.update(chunk);
      length += chunk.length;
      onChunk?.(length);
    }
  }
  return { sha256: hash.digest('hex'), length };
}

/**
 * The handler of the lifecycle scenarios (one node and every cluster topology): `/slow?ms=`
 * answers late, `/forever` never, `/bytes?size=` streams the seed-3 pattern, anything else
 * echoes its path as JSON.
 */
export async function lifecycleHandler(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname === '/slow') {
    await new Promise((resolve) => setTimeout(resolve, Number(url.searchParams.get('ms') ?? 300)));
    return new Response('slow done');
  }
  if (url.pathname === '/forever') return new Promise<Response>(() => {});
  if (url.pathname === '/bytes') return new Response(patternStream(Number(url.searchParams.get('size')), 3).stream);
  return Response.json({ ok: true, path: url.pathname });
}
