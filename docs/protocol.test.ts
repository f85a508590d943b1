/** docs/protocol.md must match the code: decode every hex frame of its worked example. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fromHex } from '../protocol/bytes.js';
import { decodeInner, decodeCodeReason, decodeUint32 } from '../protocol/stream/inner-frame.js';
import { decodeEvent, decodeHello, decodeOpen, decodeResponseHead } from '../protocol/stream/heads.js';
import { InnerKind, STREAM_DEFAULTS, StreamCode } from '../protocol/stream/stream-codes.js';
import { Mux } from '../protocol/stream/mux.js';

const doc = readFileSync(new URL('./protocol.md', import.meta.url), 'utf8');
const example = doc.slice(doc.indexOf('## 9. Worked example'));
const lines = [...example.matchAll(/^(c→d|d→c)\s+(\w+)\s+([0-9a-f]+)$/gm)].map((m) => ({ dir: m[1]!, name: m[2]!, bytes: fromHex(m[3]!) }));
const others = Object.fromEntries([...example.matchAll(/^(CREDIT|RESET|EVENT|MESSAGE)[^\n]*?\s([0-9a-f]{10,})/gm)].map((m) => [m[1]!, fromHex(m[2]!)]));

describe('docs/protocol.md worked example', () => {
  it('lists the whole exchange', () => {
    expect(lines.map((l) => `${l.dir} ${l.name}`)).toEqual(['c→d HELLO', 'd→c HELLO', 'c→d OPEN', 'c→d END', 'd→c HEAD', 'd→c DATA', 'd→c END']);
    expect(Object.keys(others).sort()).toEqual(['CREDIT', 'EVENT', 'MESSAGE', 'RESET']);
  });

  it('decodes each frame to what the text says', () => {
    const [hello, , open, end, head, data] = lines.map((l) => decodeInner(l.bytes));
    expect(hello!.kind).toBe(InnerKind.HELLO);
    expect(decodeHello(hello!.body)).toMatchObject({ versions: [1], streamWindow: STREAM_DEFAULTS.streamWindow, sessionWindow: STREAM_DEFAULTS.sessionWindow, maxStreams: 256 });
    expect(open).toMatchObject({ kind: InnerKind.OPEN, streamId: 1 });
    expect(decodeOpen(open!.body)).toEqual({ kind: 'http', method: 'GET', path: '/api/hello?name=sb', headers: [['accept', 'application/json']] });
    expect(end).toMatchObject({ kind: InnerKind.END, streamId: 1 });
    expect(decodeResponseHead(head!.body)).toEqual({ status: 200, headers: [['content-type', 'application/json']] });
    expect(new TextDecoder().decode(data!.body)).toBe('{"hello":"sb"}');
    expect(decodeUint32(decodeInner(others.CREDIT!).body, 'CREDIT')).toBe(65536);
    expect(decodeCodeReason(decodeInner(others.RESET!).body)).toEqual({ code: StreamCode.cancel, reason: 'tab closed' });
    expect(decodeEvent(decodeInner(others.EVENT!).body)).toEqual({ name: 'build', data: { ok: true } });
    expect(decodeInner(others.MESSAGE!)).toMatchObject({ kind: InnerKind.MESSAGE, streamId: 5 });
  });

  it('plays the daemon side of the example through a real Mux', async () => {
    const sent: Uint8Array[] = [];
    const daemon = new Mux({
      role: 'daemon',
      send: (f) => sent.push(f),
      onStream: (stream) => {
        stream.respond({ status: 200, headers: [['content-type', 'application/json']] });
        void stream.write(new TextEncoder().encode('{"hello":"sb"}')).then(() => stream.end());
      },
    });
    daemon.start();
    for (const line of lines.filter((l) => l.dir === 'c→d')) daemon.receive(line.bytes);
    await new Promise((r) => setTimeout(r, 5));
    const expected = lines.filter((l) => l.dir === 'd→c').map((l) => Buffer.from(l.bytes).toString('hex'));
    expect(sent.map((f) => Buffer.from(f).toString('hex'))).toEqual(expected);
    daemon.close();
  });
});
