/**
 * A recorder of every TCP write and read of this process, for bench/cold-start-trace.ts
 * `--timeline`: loaded with `--import` into the relay and daemon children and imported by the
 * trace itself, it patches net.Socket so each write (`_write`/`_writev`) and each chunk read
 * (`push`) is stamped with a clock all processes of the machine share
 * (`performance.timeOrigin + performance.now()`), plus the local and remote port, so the
 * trace can line the three processes' events up into one timeline. `mark(label)` adds a named
 * point. On exit the events go to `$WIRE_TIMELINE_DIR/<pid>-<script>.json`.
 *
 * Not for production: it adds a stack of work to every socket operation (small next to a
 * syscall, but not nothing), and it stops recording at MAX_EVENTS.
 */
import { writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { Readable } from 'node:stream';

/** [time ms, kind, local port, remote port, bytes]; kind is `send`, `recv` or a mark label. */
export type WireEvent = [number, string, number, number, number];

const MAX_EVENTS = 1_000_000;
const events: WireEvent[] = [];
const now = (): number => performance.timeOrigin + performance.now();

function record(kind: string, socket: Socket | undefined, bytes: number): void {
  if (events.length < MAX_EVENTS) events.push([now(), kind, socket?.localPort ?? 0, socket?.remotePort ?? 0, bytes]);
}

/** What this process recorded so far. */
export function recorded(): readonly WireEvent[] {
  return events;
}

/** Adds a named point to this process's timeline. */
export function mark(label: string): void {
  record(label, undefined, 0);
}

function writtenBytes(args: unknown[]): number {
  const [first] = args;
  if (Array.isArray(first)) return first.reduce((n: number, entry: { chunk?: { length?: number } }) => n + (entry.chunk?.length ?? 0), 0);
  return (first as { length?: number } | undefined)?.length ?? 0;
}

type Patched = Record<'_write' | '_writev', (...args: unknown[]) => unknown>;
const proto = Socket.prototype as unknown as Patched;
for (const name of ['_writev', '_write'] as const) {
  const original = proto[name];
  proto[name] = function (this: Socket, ...args: unknown[]) {
    record('send', this, writtenBytes(args));
    return original.apply(this, args);
  };
}
const push = Readable.prototype.push;
Readable.prototype.push = function (this: Readable, chunk: unknown, encoding?: BufferEncoding) {
  if (this instanceof Socket && chunk) record('recv', this, (chunk as { length: number }).length);
  return push.call(this, chunk, encoding);
};

const dir = process.env.WIRE_TIMELINE_DIR;
if (dir) {
  process.on('exit', () => {
    const script = (process.argv[1] ?? 'node').split('/').pop();
    writeFileSync(`${dir}/${process.pid}-${script}.json`, JSON.stringify(events));
  });
}
