/** docs/protocol.md must match the code: decode every hex frame of its worked example, both versions. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fromHex } from '../protocol/bytes.js';
import { decodeInner, decodeCodeReason, decodeUint32 } from '../protocol/stream/inner-frame.js';
import { decodeEvent, decodeHello, decodeOpen, decodeOpenFrame, decodeResponseFrame, decodeResponseHead } from '../protocol/stream/heads.js';
import { InnerKind, STREAM_DEFAULTS, StreamCode } from '../protocol/stream/stream-codes.js';
import { Mux } from '../protocol/stream/mux.js';

const doc = readFileSync(new URL('./protocol.md', import.meta.url), 'utf8');
const example = doc.slice(doc.indexOf('## 9. Worked example'));
const v2Text = example.slice(example.indexOf('### Version 2'), example.indexOf('### Version 1'));
const v1Text = example.slice(example.indexOf('### Version 1'));
const frames = (text: string) => [...text.matchAll(/^(c→d|d→c)\s+(\w+)\s+([0-9a-f]+)$/gm)].map((m) => ({ dir: m[1]!, name: m[2]!, bytes: fromHex(m[3]!) }));
const v2 = frames(v2Text);
const v1 = frames(v1Text);
const others = Object.fromEntries([...example.matchAll(/^(CREDIT|RESET|EVENT|MESSAGE)[^\n]*?\s([0-9a-f]{10,})/gm)].map((m) => [m[1]!, fromHex(m[2]!)]));
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Plays the daemon's side: the client frames of `lines` in, the daemon's frames out, as hex. */
async function daemonAnswers(lines: { dir: string; bytes: Uint8Array }[], versions?: number[]): Promise<string[]> {
  const sent: Uint8Array[] = [];
  const daemon = new Mux({
    role: 'daemon',
    versions,
    send: (f) => sent.push(f),
    // As the daemon runs it (daemon/listen.ts): frames go out once the handler queued its answer.
    defer: setImmediate,
    onStream: (stream) => {
      stream.respond({ status: 200, headers: [['content-type', 'application/json']] });
      void stream.write(new TextEncoder().encode('{"hello":"sb"}')).then(() => stream.end());
    },
  });
  daemon.start();
  for (const line of lines.filter((l) => l.dir === 'c→d')) daemon.receive(line.bytes);
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  daemon.close();
  return sent.map((f) => Buffer.from(f).toString('hex'));
}

describe('docs/protocol.md worked example', () => {
  it('lists the whole exchange of each version', () => {
    expect(v2.map((l) => `${l.dir} ${l.name}`)).toEqual(['c→d HELLO', 'd→c HELLO', 'c→d OPEN', 'd→c HEAD']);
    expect(v1.map((l) => `${l.dir} ${l.name}`)).toEqual(['c→d HELLO', 'd→c HELLO', 'c→d OPEN', 'c→d END', 'd→c HEAD', 'd→c DATA', 'd→c END']);
    expect(Object.keys(others).sort()).toEqual(['CREDIT', 'EVENT', 'MESSAGE', 'RESET']);
  });

  it('decodes the version 2 frames to what the text says', () => {
    const [hello, , open, head] = v2.map((l) => decodeInner(l.bytes));
    expect(decodeHello(hello!.body)).toMatchObject({ versions: [1, 2], streamWindow: STREAM_DEFAULTS.streamWindow, sessionWindow: STREAM_DEFAULTS.sessionWindow, maxStreams: 256 });
    expect(open).toMatchObject({ kind: InnerKind.OPEN, streamId: 1 });
    expect(decodeOpenFrame(open!.body, true)).toEqual({ head: { kind: 'http', method: 'GET', path: '/api/hello?name=sb', headers: [['accept', 'application/json']] }, inline: { end: true } });
    expect(head).toMatchObject({ kind: InnerKind.HEAD, streamId: 1 });
    const response = decodeResponseFrame(head!.body, true);
    expect(response.head).toEqual({ status: 200, headers: [['content-type', 'application/json']] });
    expect(response.inline.end).toBe(true);
    expect(text(response.inline.body!)).toBe('{"hello":"sb"}');
  });

  it('decodes the version 1 frames to what the text says', () => {
    const [hello, , open, end, head, data] = v1.map((l) => decodeInner(l.bytes));
    expect(hello!.kind).toBe(InnerKind.HELLO);
    expect(decodeHello(hello!.body)).toMatchObject({ versions: [1], streamWindow: STREAM_DEFAULTS.streamWindow, sessionWindow: STREAM_DEFAULTS.sessionWindow, maxStreams: 256 });
    expect(open).toMatchObject({ kind: InnerKind.OPEN, streamId: 1 });
    expect(decodeOpen(open!.body)).toEqual({ kind: 'http', method: 'GET', path: '/api/hello?name=sb', headers: [['accept', 'application/json']] });
    expect(end).toMatchObject({ kind: InnerKind.END, streamId: 1 });
    expect(decodeResponseHead(head!.body)).toEqual({ status: 200, headers: [['content-type', 'application/json']] });
    expect(text(data!.body)).toBe('{"hello":"sb"}');
    expect(decodeUint32(decodeInner(others.CREDIT!).body, 'CREDIT')).toBe(65536);
    expect(decodeCodeReason(decodeInner(others.RESET!).body)).toEqual({ code: StreamCode.cancel, reason: 'tab closed' });
    expect(decodeEvent(decodeInner(others.EVENT!).body)).toEqual({ name: 'build', data: { ok: true } });
    expect(decodeInner(others.MESSAGE!)).toMatchObject({ kind: InnerKind.MESSAGE, streamId: 5 });
  });

  it('plays the daemon side of the version 2 example through a real Mux, byte for byte', async () => {
    const expected = v2.filter((l) => l.dir === 'd→c').map((l) => Buffer.from(l.bytes).toString('hex'));
    expect(await daemonAnswers(v2)).toEqual(expected);
  });

  it('plays the daemon side of the version 1 example: a version-2 daemon answers a version-1 client in version 1', async () => {
    const expected = v1.filter((l) => l.dir === 'd→c').map((l) => Buffer.from(l.bytes).toString('hex'));
    // The daemon announces [1, 2] in its own HELLO; the example's daemon HELLO is a version-1 one.
    const answers = await daemonAnswers(v1);
    expect(answers.slice(1)).toEqual(expected.slice(1));
    expect(await daemonAnswers(v1, [1])).toEqual(expected);
  });
});
