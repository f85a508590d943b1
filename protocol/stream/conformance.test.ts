/**
 * docs/protocol.md, answer by answer: each test drives one real Mux with raw inner frames from
 * a hand-written peer and checks the exact reaction the page prescribes (ERROR or RESET code,
 * or the frames that go out). Test names start with the section they check, so a reader can
 * map each normative sentence to its test and back.
 */
import { describe, expect, it } from 'vitest';
import { Mux, type MuxOptions } from './mux.js';
import type { MuxStream } from './mux-stream.js';
import {
  decodeCodeReason, decodeGoaway, decodeInner, decodePacked, decodeUint32, encodeCodeReason, encodeCombinedCredit, encodeGoaway, encodeInner, encodePacked, encodeUint32,
  type InnerFrame,
} from './inner-frame.js';
import { decodeOpen, decodeOpenFrame, decodeResponseFrame, decodeResponseHead } from './heads.js';
import { InnerKind, MAX_EVENT_BYTES, MessageFlag, StreamCode, streamCodeName } from './stream-codes.js';
import { StreamError } from './stream-error.js';
import { routeStream } from '../../daemon/route-stream.js';

const HELLO = {
  versions: [1],
  streamWindow: 256 * 1024,
  sessionWindow: 1024 * 1024,
  maxStreams: 256,
  maxHeadBytes: 32 * 1024,
  maxMessageBytes: 255 * 1024,
  capabilities: ['http', 'channel', 'event'],
};

const HTTP_GET = { kind: 'http', method: 'GET', path: '/', headers: [] };
const CHANNEL = { kind: 'channel', path: '/ch', headers: [] };
const bytes = (text: string) => new TextEncoder().encode(text);
const message = (flags: number, payload: Uint8Array | string) => {
  const piece = typeof payload === 'string' ? bytes(payload) : payload;
  const body = new Uint8Array(1 + piece.length);
  body[0] = flags;
  body.set(piece, 1);
  return body;
};
const tick = () => new Promise((r) => setTimeout(r, 5));

/** A hand-written peer: raw frames in, the Mux's frames collected in `out`. */
class RawPeer {
  readonly out: InnerFrame[] = [];
  readonly accepted: MuxStream[] = [];
  closedWith?: StreamError | 'clean';
  readonly mux: Mux;

  constructor(role: 'client' | 'daemon', options: Partial<MuxOptions> = {}, helloFields: Record<string, unknown> | false = {}) {
    this.mux = new Mux({
      role,
      send: (f) => this.out.push(decodeInner(f.slice())),
      onStream: (s) => this.accepted.push(s),
      onClose: (e) => (this.closedWith = e ?? 'clean'),
      ...options,
    });
    this.mux.start();
    this.out.length = 0; // the Mux's own HELLO
    if (helloFields) this.hello(helloFields);
  }

  send(kind: number, id: number, body: Uint8Array = new Uint8Array(0)): void {
    this.mux.receive(encodeInner(kind, id, body));
  }

  hello(fields: Record<string, unknown> = {}): void {
    const map: Record<string, unknown> = { ...HELLO, ...fields };
    for (const [k, v] of Object.entries(map)) if (v === undefined) delete map[k];
    this.send(InnerKind.HELLO, 0, encodePacked(map));
  }

  open(id: number, head: Record<string, unknown> = HTTP_GET): void {
    this.send(InnerKind.OPEN, id, encodePacked(head));
  }

  frames(kind: number, id?: number): InnerFrame[] {
    return this.out.filter((f) => f.kind === kind && (id === undefined || f.streamId === id));
  }

  /** Code name of the ERROR the Mux sent, if any. */
  error(): string | undefined {
    const frame = this.frames(InnerKind.ERROR)[0];
    return frame && streamCodeName(decodeCodeReason(frame.body, true).code);
  }

  errorReason(): string {
    return decodeCodeReason(this.frames(InnerKind.ERROR)[0]!.body, true).reason;
  }

  /** Code name of the RESET the Mux sent on `id`, if any. */
  reset(id: number): string | undefined {
    const frame = this.frames(InnerKind.RESET, id)[0];
    return frame && streamCodeName(decodeCodeReason(frame.body).code);
  }

  credit(id: number): number[] {
    return this.frames(InnerKind.CREDIT, id).map((f) => decodeUint32(f.body, 'CREDIT'));
  }
}

/** Keys of a MessagePack map body, in order. */
function decodePackedKeys(body: Uint8Array): string[] {
  return Object.keys(decodePacked(body, 'test') as Record<string, unknown>);
}

/** A daemon-role Mux with the peer's HELLO in, and one accepted channel on stream 1. */
function acceptedChannel(helloFields: Record<string, unknown> = {}, options: Partial<MuxOptions> = {}) {
  const peer = new RawPeer('daemon', options, helloFields);
  peer.open(1, CHANNEL);
  const stream = peer.accepted[0]!;
  stream.respond({ status: 200, headers: [] });
  return { peer, stream };
}

/** A client-role Mux with the peer's HELLO in, and one stream it opened (id 1). */
function openedStream(head: Record<string, unknown> = HTTP_GET, helloFields: Record<string, unknown> = {}) {
  const peer = new RawPeer('client', {}, helloFields);
  const stream = peer.mux.open(head as never);
  return { peer, stream };
}

describe('§2 frame layout', () => {
  it('§2 before HELLO every frame but HELLO and ERROR is ERROR protocol, unknown kinds included', () => {
    const peer = new RawPeer('daemon', {}, false);
    peer.send(0x42, 0);
    expect(peer.error()).toBe('protocol');
    expect(peer.mux.closed).toBe(true);
  });

  it('§2 after HELLO unknown kinds are ignored', () => {
    const peer = new RawPeer('daemon');
    peer.send(0x42, 0, bytes('future'));
    peer.send(0x7f, 9);
    expect(peer.out).toEqual([]);
    expect(peer.mux.closed).toBe(false);
  });

  it('§2 a session frame (HELLO, EVENT, PING, PONG, GOAWAY) with a nonzero stream id is ERROR protocol', () => {
    for (const kind of [InnerKind.EVENT, InnerKind.PING, InnerKind.PONG, InnerKind.GOAWAY]) {
      const peer = new RawPeer('daemon');
      const body = kind === InnerKind.GOAWAY ? encodeGoaway(0, StreamCode.going_away) : kind === InnerKind.EVENT ? encodePacked({ name: 'x', data: null }) : new Uint8Array(8);
      peer.send(kind, 1, body);
      expect(peer.error(), `kind ${kind}`).toBe('protocol');
    }
    const early = new RawPeer('daemon', {}, false);
    early.send(InnerKind.HELLO, 3, encodePacked(HELLO));
    expect(early.error()).toBe('protocol');
  });

  it('§2 CREDIT of 0 is ERROR protocol, on the session and on a stream', () => {
    const session = new RawPeer('daemon');
    session.send(InnerKind.CREDIT, 0, encodeUint32(0));
    expect(session.error()).toBe('protocol');
    const { peer } = openedStream();
    peer.send(InnerKind.CREDIT, 1, encodeUint32(0));
    expect(peer.error()).toBe('protocol');
  });

  it('§2 a RESET reason is at most 512 UTF-8 bytes: senders cut at a character boundary, a longer one is ERROR protocol', () => {
    const { peer, stream } = openedStream();
    stream.reset('cancel', 'é'.repeat(400)); // 800 bytes
    const reason = peer.frames(InnerKind.RESET, 1)[0]!.body.subarray(2);
    expect(reason.length).toBe(512);
    expect(new TextDecoder('utf-8', { fatal: true }).decode(reason)).toBe('é'.repeat(256));

    const other = openedStream();
    other.peer.send(InnerKind.RESET, 1, encodeCodeReason(StreamCode.cancel, 'x'.repeat(512))); // exactly the limit: fine
    expect(other.peer.mux.closed).toBe(false);
    const third = openedStream();
    const long = new Uint8Array(2 + 513).fill(0x78);
    long.set([0, StreamCode.cancel]);
    third.peer.send(InnerKind.RESET, 1, long);
    expect(third.peer.error()).toBe('protocol');
    const invalid = openedStream();
    invalid.peer.send(InnerKind.RESET, 1, Uint8Array.of(0, 1, 0xff));
    expect(invalid.peer.error()).toBe('protocol');
  });

  it('§2 an ERROR reason has the same 512-byte limit on sending; a malformed reason still ends the session with its code, unanswered', () => {
    const sender = new RawPeer('daemon');
    sender.mux.close(new StreamError('internal', 'ü'.repeat(300)), true); // 600 bytes
    expect(sender.frames(InnerKind.ERROR)[0]!.body.length).toBe(2 + 512);
    const peer = new RawPeer('daemon');
    peer.mux.receive(encodeInner(InnerKind.ERROR, 0, encodeCodeReason(StreamCode.internal, 'ü'.repeat(300))));
    expect(peer.closedWith).toMatchObject({ code: 'internal', remote: true });
    expect(peer.out).toEqual([]); // never answered
    const long = new Uint8Array(2 + 2000).fill(0x41);
    long.set([0, StreamCode.going_away]);
    const other = new RawPeer('daemon');
    other.send(InnerKind.ERROR, 0, long);
    expect(other.closedWith).toMatchObject({ code: 'going_away' });
    expect(other.out).toEqual([]);
  });

  it('§2 an ERROR ends the inner session: streams fail with its code, later frames (even a new HELLO) are ignored', async () => {
    const { peer, stream } = openedStream();
    peer.send(InnerKind.ERROR, 0, encodeCodeReason(StreamCode.timeout, 'bye'));
    await expect(stream.response).rejects.toMatchObject({ code: 'timeout' });
    expect(peer.closedWith).toMatchObject({ code: 'timeout' });
    peer.hello();
    peer.send(InnerKind.PING, 0, new Uint8Array(8));
    expect(peer.out.filter((f) => f.kind !== InnerKind.OPEN)).toEqual([]);
    expect(() => peer.mux.open({ kind: 'http', method: 'GET', path: '/', headers: [] })).toThrowError(expect.objectContaining({ code: 'timeout' }));
  });

  it('§2 END carrying a body is ERROR protocol', () => {
    const { peer } = openedStream();
    peer.send(InnerKind.HEAD, 1, encodePacked({ status: 200, headers: [] }));
    peer.send(InnerKind.END, 1, Uint8Array.of(0));
    expect(peer.error()).toBe('protocol');
  });
});

describe('§3 structured bodies', () => {
  it('§3 HELLO requires versions and the five limits; capabilities is optional', () => {
    for (const key of ['versions', 'streamWindow', 'sessionWindow', 'maxStreams', 'maxHeadBytes', 'maxMessageBytes']) {
      const peer = new RawPeer('daemon', {}, { [key]: undefined });
      expect(peer.error(), key).toBe('protocol');
      expect(peer.errorReason(), key).toContain(key === 'versions' ? 'versions' : key);
    }
    const peer = new RawPeer('daemon', {}, { capabilities: undefined });
    expect(peer.mux.ready).toBe(true);
  });

  it('§3 HELLO integers are unsigned 32-bit: above 2^32−1, negative or fractional is ERROR protocol', () => {
    for (const value of [2 ** 32, -1, 4096.5]) {
      const peer = new RawPeer('daemon', {}, { sessionWindow: value });
      expect(peer.error(), String(value)).toBe('protocol');
    }
    const widest = new RawPeer('daemon', {}, { sessionWindow: 2 ** 32 - 1 });
    expect(widest.mux.ready).toBe(true);
  });

  it('§3 a HELLO value under its minimum is ERROR protocol, and the reason names the minimum', () => {
    const peer = new RawPeer('daemon', {}, { streamWindow: 512 });
    expect(peer.error()).toBe('protocol');
    expect(peer.errorReason()).toContain('streamWindow: must be at least 1024, got 512');
    expect(peer.errorReason()).not.toContain('unsigned');
  });

  it('§3 maxMessageBytes above streamWindow − 256 is no error: the limit in force is streamWindow − 256', async () => {
    const { peer, stream } = acceptedChannel({ streamWindow: 1024, maxMessageBytes: 100_000 });
    expect(peer.mux.ready).toBe(true);
    await stream.sendMessage(new Uint8Array(768));
    expect(peer.frames(InnerKind.MESSAGE, 1)).toHaveLength(1);
    await expect(stream.sendMessage(new Uint8Array(769))).rejects.toMatchObject({ code: 'message_too_large' });
  });

  it('§3 a head or message over the peer limits is never sent: OPEN fails locally, HEAD and MESSAGE become RESET with the code', async () => {
    const client = new RawPeer('client', {}, { maxHeadBytes: 256 });
    expect(() => client.mux.open({ kind: 'http', method: 'GET', path: '/' + 'a'.repeat(300), headers: [] })).toThrowError(expect.objectContaining({ code: 'head_too_large' }));
    expect(client.out).toEqual([]);

    const daemon = new RawPeer('daemon', {}, { maxHeadBytes: 256 });
    daemon.open(1, HTTP_GET);
    expect(() => daemon.accepted[0]!.respond({ status: 200, headers: [['x-big', 'b'.repeat(300)]] })).toThrowError(expect.objectContaining({ code: 'head_too_large' }));
    expect(daemon.frames(InnerKind.HEAD)).toEqual([]);
    expect(daemon.reset(1)).toBe('head_too_large');

    const { peer, stream } = acceptedChannel({ maxMessageBytes: 1000 });
    await expect(stream.sendMessage(new Uint8Array(1001))).rejects.toMatchObject({ code: 'message_too_large' });
    expect(peer.frames(InnerKind.MESSAGE)).toEqual([]);
    expect(peer.reset(1)).toBe('message_too_large');
    expect(stream.error?.code).toBe('message_too_large');

    // And on receipt: a head over our maxHeadBytes is RESET head_too_large.
    const small = new RawPeer('client', { limits: { maxHeadBytes: 256 } });
    small.mux.open({ kind: 'http', method: 'GET', path: '/', headers: [] });
    small.send(InnerKind.HEAD, 1, encodePacked({ status: 200, headers: [['x-big', 'b'.repeat(300)]] }));
    expect(small.reset(1)).toBe('head_too_large');
  });

  it('§3 headers may be absent (no headers); a channel OPEN may carry method, which is ignored; an http OPEN needs one', () => {
    const peer = new RawPeer('daemon');
    peer.open(1, { kind: 'http', method: 'GET', path: '/a' });
    peer.open(3, { kind: 'channel', method: 'POST', path: '/b' });
    peer.open(5, { kind: 'http', path: '/c', headers: [] });
    expect(peer.accepted.map((s) => s.head)).toEqual([
      { kind: 'http', method: 'GET', path: '/a', headers: [] },
      { kind: 'channel', path: '/b', headers: [] },
    ]);
    expect(peer.reset(5)).toBe('protocol');
    expect(peer.mux.closed).toBe(false);
  });

  it('§3 connection headers are an exact list, not a proxy- prefix; they and any header that connection names are dropped on arrival', () => {
    const peer = new RawPeer('daemon');
    const headers = [
      ['connection', 'x-hop, Keep-Alive'],
      ['x-hop', '1'],
      ['keep-alive', 'timeout=5'],
      ['proxy-authorization', 'Basic x'],
      ['proxy-status', 'relay; error=none'],
      ['te', 'trailers'],
      ['host', 'relay.example'],
      ['accept', '*/*'],
    ];
    peer.open(1, { ...HTTP_GET, headers });
    expect(peer.accepted[0]!.head.headers).toEqual([
      ['proxy-status', 'relay; error=none'],
      ['accept', '*/*'],
    ]);
    // The same on the way out: never sent.
    const client = new RawPeer('client');
    client.mux.open({ kind: 'http', method: 'GET', path: '/', headers: [['connection', 'x-a'], ['x-a', '1'], ['x-b', '2']] });
    expect(decodeOpen(client.frames(InnerKind.OPEN)[0]!.body).headers).toEqual([['x-b', '2']]);
  });

  it('§3 header names are lower-case on the wire (upper-case is RESET protocol); repeated pairs keep their order', () => {
    const peer = new RawPeer('daemon');
    peer.open(1, { ...HTTP_GET, headers: [['Accept', '*/*']] });
    expect(peer.reset(1)).toBe('protocol');
    const pairs = [['set-cookie', 'b=2'], ['x-a', '1'], ['set-cookie', 'a=1'], ['x-a', '0']];
    peer.open(3, { ...HTTP_GET, headers: pairs });
    expect(peer.accepted[0]!.head.headers).toEqual(pairs);
    expect(() => peer.mux.open({ kind: 'http', method: 'GET', path: '/', headers: [['X-Up', '1']] })).toThrowError(expect.objectContaining({ code: 'protocol' }));
  });

  it('§3 an EVENT body is at most 32 KiB (a fixed limit, not in HELLO): a larger one is ERROR protocol, and never sent', () => {
    const events: string[] = [];
    const peer = new RawPeer('client', { onEvent: (name) => events.push(name) });
    const fits = encodePacked({ name: 'big', data: 'x'.repeat(MAX_EVENT_BYTES - 20) });
    expect(fits.length).toBeLessThanOrEqual(MAX_EVENT_BYTES);
    peer.send(InnerKind.EVENT, 0, fits);
    expect(events).toEqual(['big']);
    peer.send(InnerKind.EVENT, 0, encodePacked({ name: 'big', data: 'x'.repeat(MAX_EVENT_BYTES) }));
    expect(peer.error()).toBe('protocol');

    const daemon = new RawPeer('daemon', { limits: { maxEventBytes: 1024 * 1024 } });
    expect(() => daemon.mux.publishEvent('big', 'x'.repeat(MAX_EVENT_BYTES))).toThrowError(expect.objectContaining({ code: 'message_too_large' }));
    expect(daemon.out).toEqual([]);
  });
});

describe('§3 version 2: inline body and end', () => {
  const V2 = { versions: [1, 2] };

  it('§3 the version in force is the highest in both HELLOs: with [1, 2] a GET is one OPEN carrying end; with [1] an OPEN and an END', () => {
    const v2 = new RawPeer('client', {}, V2);
    expect(v2.mux.version).toBe(2);
    v2.mux.open(HTTP_GET as never, { end: true });
    expect(v2.out.map((f) => f.kind)).toEqual([InnerKind.OPEN]);
    expect(decodeOpenFrame(v2.out[0]!.body, true).inline).toEqual({ end: true });
    const v1 = new RawPeer('client', {}, { versions: [1] });
    expect(v1.mux.version).toBe(1);
    v1.mux.open(HTTP_GET as never, { end: true });
    expect(v1.out.map((f) => f.kind)).toEqual([InnerKind.OPEN, InnerKind.END]);
    expect(Object.keys(decodeOpen(v1.out[0]!.body))).not.toContain('end');
    expect(decodePackedKeys(v1.out[0]!.body)).toEqual(['kind', 'method', 'path', 'headers']);
  });

  it('§3 "in both HELLOs": a side that announced only [1] speaks version 1 to a peer announcing [1, 2]', () => {
    const pinned = new RawPeer('client', { versions: [1] }, V2);
    expect(pinned.mux.version).toBe(1);
    pinned.mux.open(HTTP_GET as never, { end: true });
    expect(pinned.out.map((f) => f.kind)).toEqual([InnerKind.OPEN, InnerKind.END]);
  });

  it('§3 in version 1 end and body are unknown keys, so ignored', async () => {
    const peer = new RawPeer('daemon', {}, { versions: [1] });
    peer.open(1, { ...HTTP_GET, method: 'POST', end: true, body: bytes('ignored') });
    const stream = peer.accepted[0]!;
    expect(stream.remoteEnded).toBe(false);
    peer.send(InnerKind.DATA, 1, bytes('real'));
    peer.send(InnerKind.END, 1);
    expect(new TextDecoder().decode((await stream.read())!)).toBe('real');
    expect(await stream.read()).toBeNull();
  });

  it('§3 an OPEN with body and end is that DATA and END: readable at once, and the answer needs no RESET to stop an upload', async () => {
    const peer = new RawPeer('daemon', { defer: setImmediate }, V2);
    peer.open(1, { ...HTTP_GET, method: 'POST', end: true, body: bytes('hello') });
    const stream = peer.accepted[0]!;
    expect(new TextDecoder().decode((await stream.read())!)).toBe('hello');
    expect(await stream.read()).toBeNull();
    stream.respond({ status: 204, headers: [] });
    stream.end({ stopPeer: true });
    await new Promise((resolve) => setImmediate(resolve));
    expect(peer.out.map((f) => f.kind)).toEqual([InnerKind.HEAD]);
    expect(decodeResponseFrame(peer.out[0]!.body, true).inline).toEqual({ end: true });
    expect(peer.mux.streamCount).toBe(0); // both sides ended: no longer counted
  });

  it('§3 an inline body costs credit like DATA: past the stream window RESET flow_control, past the session window ERROR flow_control', () => {
    const peer = new RawPeer('daemon', { limits: { streamWindow: 1024, sessionWindow: 2048 } }, V2);
    peer.open(1, { ...HTTP_GET, method: 'POST', body: new Uint8Array(1000) });
    expect(peer.reset(1)).toBeUndefined();
    peer.open(3, { ...HTTP_GET, method: 'POST', body: new Uint8Array(1025) });
    expect(peer.reset(3)).toBe('flow_control');
    expect(peer.credit(0)).toEqual([1025]); // the reset stream's bytes go back to the session (§5)
    peer.open(5, { ...HTTP_GET, method: 'POST', body: new Uint8Array(1000) });
    expect(peer.error()).toBeUndefined();
    peer.open(7, { ...HTTP_GET, method: 'POST', body: new Uint8Array(100) }); // 1000 + 1000 unread + 100 > 2048
    expect(peer.error()).toBe('flow_control');
  });

  it('§3 a body in a channel head, an end that is not a boolean and an empty body are RESET protocol; the session lives on', () => {
    const peer = new RawPeer('daemon', {}, V2);
    peer.open(1, { ...CHANNEL, body: bytes('x') });
    expect(peer.reset(1)).toBe('protocol');
    peer.open(3, { ...HTTP_GET, end: 1 });
    expect(peer.reset(3)).toBe('protocol');
    peer.open(5, { ...HTTP_GET, method: 'POST', body: new Uint8Array(0) });
    expect(peer.reset(5)).toBe('protocol');
    peer.open(7, { ...HTTP_GET, end: false });
    expect(peer.reset(7)).toBeUndefined();
    expect(peer.accepted.at(-1)!.remoteEnded).toBe(false);
    const opened = openedStream(CHANNEL, V2);
    opened.peer.send(InnerKind.HEAD, 1, encodePacked({ status: 200, headers: [], body: bytes('x') }));
    expect(opened.peer.reset(1)).toBe('protocol');
    expect(peer.mux.closed || opened.peer.mux.closed).toBe(false);
  });

  it('§3 a HEAD carries the body and END queued behind it when they fit maxHeadBytes and credit; otherwise they follow as frames', async () => {
    const answer = async (helloFields: Record<string, unknown>, size: number) => {
      const peer = new RawPeer('daemon', { defer: setImmediate }, { ...V2, ...helloFields });
      peer.open(1, { ...HTTP_GET, end: true });
      const stream = peer.accepted[0]!;
      stream.respond({ status: 200, headers: [] });
      void stream.write(new Uint8Array(size).fill(7)).then(() => stream.end());
      await new Promise((resolve) => setTimeout(resolve, 5));
      return peer.out.map((f) => f.kind);
    };
    expect(await answer({}, 100)).toEqual([InnerKind.HEAD]);
    expect(await answer({ maxHeadBytes: 256 }, 1000)).toEqual([InnerKind.HEAD, InnerKind.DATA, InnerKind.END]);
    expect(await answer({ streamWindow: 1024 }, 2000)).toEqual([InnerKind.HEAD, InnerKind.DATA]); // 2000 > credit: DATA up to it, the rest waits
  });

  it('§3 the opener reads a HEAD with body and end as HEAD, DATA and END; an END or DATA after it is RESET protocol', async () => {
    const { peer, stream } = openedStream(HTTP_GET, V2);
    peer.send(InnerKind.HEAD, 1, encodePacked({ status: 200, headers: [], end: true, body: bytes('done') }));
    expect((await stream.response).status).toBe(200);
    expect(new TextDecoder().decode((await stream.read())!)).toBe('done');
    expect(await stream.read()).toBeNull();
    const other = openedStream({ ...HTTP_GET, method: 'POST' }, V2);
    other.peer.send(InnerKind.HEAD, 1, encodePacked({ status: 200, headers: [], end: true }));
    other.peer.send(InnerKind.END, 1);
    expect(other.peer.reset(1)).toBe('protocol');
  });
});

describe('§4 streams', () => {
  it('§4 after a refusing channel HEAD the acceptor sends END; the opener sends END or RESET, and a MESSAGE from the acceptor is RESET protocol', async () => {
    const daemon = new RawPeer('daemon');
    daemon.open(1, CHANNEL);
    const accepted = daemon.accepted[0]!;
    accepted.respond({ status: 404, headers: [] });
    accepted.end();
    expect(daemon.out.map((f) => f.kind)).toEqual([InnerKind.HEAD, InnerKind.END]);
    daemon.send(InnerKind.MESSAGE, 1, message(MessageFlag.fin, 'x')); // the opener must not send after a refusal
    expect(daemon.reset(1)).toBe('protocol');

    const { peer, stream } = openedStream(CHANNEL);
    peer.send(InnerKind.HEAD, 1, encodePacked({ status: 403, headers: [] }));
    expect((await stream.response).status).toBe(403);
    peer.send(InnerKind.MESSAGE, 1, message(MessageFlag.fin, 'x'));
    expect(peer.reset(1)).toBe('protocol');
  });

  it('§4 an OPEN id must be above every id that peer opened before, refused ones included; gaps are fine', () => {
    const peer = new RawPeer('daemon', { limits: { maxStreams: 1 } });
    peer.open(5);
    peer.open(9); // refused: over maxStreams, but the id is used
    expect(peer.reset(9)).toBe('refused');
    expect(peer.mux.closed).toBe(false);
    peer.open(7);
    expect(peer.error()).toBe('protocol');
    const parity = new RawPeer('daemon');
    parity.open(2);
    expect(parity.error()).toBe('protocol');
  });

  it('§4 a stream counts against maxStreams from OPEN until it is closed: both ENDs, or a RESET either way', () => {
    const peer = new RawPeer('daemon', { limits: { maxStreams: 1 } });
    peer.open(1);
    const first = peer.accepted[0]!;
    first.respond({ status: 200, headers: [] });
    first.end();
    peer.open(3); // stream 1: only the daemon ended
    expect(peer.reset(3)).toBe('refused');
    peer.send(InnerKind.END, 1);
    peer.open(5); // both ENDs: no longer counted
    expect(peer.reset(5)).toBeUndefined();
    peer.send(InnerKind.RESET, 5, encodeCodeReason(StreamCode.cancel));
    peer.open(7); // reset by the peer
    expect(peer.reset(7)).toBeUndefined();
    peer.accepted[2]!.reset('cancel');
    peer.open(9); // reset by us
    expect(peer.reset(9)).toBeUndefined();
    expect(peer.accepted.map((s) => s.id)).toEqual([1, 5, 7, 9]);
  });

  it('§4 DATA after END and a second END on a stream still open are RESET protocol', () => {
    const peer = new RawPeer('daemon');
    peer.open(1, { ...HTTP_GET, method: 'POST' });
    peer.send(InnerKind.END, 1);
    peer.send(InnerKind.DATA, 1, bytes('late'));
    expect(peer.reset(1)).toBe('protocol');
    peer.open(3, { ...HTTP_GET, method: 'POST' });
    peer.send(InnerKind.END, 3);
    peer.send(InnerKind.END, 3);
    expect(peer.reset(3)).toBe('protocol');
    expect(peer.mux.closed).toBe(false);
  });

  it('§4 HEAD from the opener, and a second HEAD, are RESET protocol', async () => {
    const peer = new RawPeer('daemon');
    peer.open(1);
    peer.send(InnerKind.HEAD, 1, encodePacked({ status: 200, headers: [] }));
    expect(peer.reset(1)).toBe('protocol');
    const opened = openedStream();
    opened.peer.send(InnerKind.HEAD, 1, encodePacked({ status: 200, headers: [] }));
    opened.peer.send(InnerKind.HEAD, 1, encodePacked({ status: 200, headers: [] }));
    expect(opened.peer.reset(1)).toBe('protocol');
    expect(opened.peer.mux.closed).toBe(false);
  });

  it('§4 MESSAGE on an http stream and DATA on a channel are RESET protocol', () => {
    const peer = new RawPeer('daemon');
    peer.open(1, { ...HTTP_GET, method: 'POST' });
    peer.send(InnerKind.MESSAGE, 1, message(MessageFlag.fin, 'x'));
    expect(peer.reset(1)).toBe('protocol');
    peer.open(3, CHANNEL);
    peer.accepted[1]!.respond({ status: 200, headers: [] });
    peer.send(InnerKind.DATA, 3, bytes('x'));
    expect(peer.reset(3)).toBe('protocol');
  });

  it('§4 MESSAGE before HEAD 200 is RESET protocol, from either side; DATA before HEAD from the acceptor too', () => {
    const daemon = new RawPeer('daemon');
    daemon.open(1, CHANNEL); // accepted, not yet answered
    daemon.send(InnerKind.MESSAGE, 1, message(MessageFlag.fin, 'early'));
    expect(daemon.reset(1)).toBe('protocol');
    const channel = openedStream(CHANNEL);
    channel.peer.send(InnerKind.MESSAGE, 1, message(MessageFlag.fin, 'early'));
    expect(channel.peer.reset(1)).toBe('protocol');
    const http = openedStream();
    http.peer.send(InnerKind.DATA, 1, bytes('body before head'));
    expect(http.peer.reset(1)).toBe('protocol');
  });
});

describe('§5 flow control', () => {
  it('§5 before the peer HELLO a side sends only its HELLO: OPENs wait for the peer limits', () => {
    const peer = new RawPeer('client', {}, false);
    peer.mux.open({ kind: 'http', method: 'GET', path: '/', headers: [] });
    peer.mux.open({ kind: 'http', method: 'GET', path: '/', headers: [] });
    expect(peer.out).toEqual([]);
    peer.hello({ maxStreams: 1 });
    expect(peer.out.map((f) => [f.kind, f.streamId])).toEqual([[InnerKind.OPEN, 1]]);
  });

  it('§5 empty DATA is RESET protocol (it would cost no credit)', () => {
    const peer = new RawPeer('daemon');
    peer.open(1, { ...HTTP_GET, method: 'POST' });
    peer.send(InnerKind.DATA, 1);
    expect(peer.reset(1)).toBe('protocol');
    expect(peer.mux.closed).toBe(false);
  });

  it('§5 stream credit overflow is RESET flow_control; session credit overflow is ERROR flow_control', () => {
    const { peer } = openedStream(HTTP_GET, { streamWindow: 1024 });
    peer.send(InnerKind.CREDIT, 1, encodeUint32(2 ** 32 - 1 - 1024)); // 1024 + this = 2^32 − 1: allowed
    expect(peer.reset(1)).toBeUndefined();
    peer.send(InnerKind.CREDIT, 1, encodeUint32(1));
    expect(peer.reset(1)).toBe('flow_control');
    expect(peer.mux.closed).toBe(false);
    peer.send(InnerKind.CREDIT, 0, encodeUint32(2 ** 32 - 1));
    expect(peer.error()).toBe('flow_control');
  });

  it('§5 credit is granted as the application reads, not on arrival (this implementation: every quarter window)', async () => {
    const peer = new RawPeer('daemon');
    peer.open(1, { ...HTTP_GET, method: 'POST' });
    for (let i = 0; i < 4; i++) peer.send(InnerKind.DATA, 1, new Uint8Array(16 * 1024));
    expect(peer.frames(InnerKind.CREDIT)).toEqual([]);
    const stream = peer.accepted[0]!;
    for (let i = 0; i < 4; i++) await stream.read();
    expect(peer.credit(1)).toEqual([64 * 1024]); // a quarter of the 256 KiB stream window
    expect(peer.credit(0)).toEqual([]); // the session's quarter (256 KiB) is not reached yet
  });

  it('§5 (version 2) an 8-byte stream CREDIT grants the stream, then the session: stream increment ‖ session increment', async () => {
    const { peer, stream } = openedStream({ ...HTTP_GET, method: 'POST' }, { versions: [1, 2], streamWindow: 1024, sessionWindow: 1024 });
    void stream.write(new Uint8Array(4096)).catch(() => {});
    await tick();
    const sent = () => peer.frames(InnerKind.DATA, 1).reduce((n, f) => n + f.body.length, 0);
    expect(sent()).toBe(1024);
    peer.send(InnerKind.CREDIT, 1, encodeCombinedCredit(2048, 1024)); // the session allows 1024 of the 2048
    await tick();
    expect(sent()).toBe(2048);
    peer.send(InnerKind.CREDIT, 0, encodeUint32(1024));
    await tick();
    expect(sent()).toBe(3072);
    expect(peer.mux.closed).toBe(false);
    // Each half is a CREDIT of its own: a zero in either is ERROR protocol; overflows keep their scopes.
    peer.send(InnerKind.CREDIT, 1, encodeCombinedCredit(2 ** 32 - 1, 1));
    expect(peer.reset(1)).toBeUndefined();
    peer.send(InnerKind.CREDIT, 1, encodeCombinedCredit(2 ** 32 - 1, 1));
    expect(peer.reset(1)).toBe('flow_control');
    expect(peer.mux.closed).toBe(false);
    peer.send(InnerKind.CREDIT, 3, encodeCombinedCredit(1, 0)); // an unknown stream's half is ignored, not the zero
    expect(peer.error()).toBe('protocol');
  });

  it('§5 an 8-byte CREDIT in version 1, or on the session in either version, is ERROR protocol', () => {
    const v1 = openedStream(HTTP_GET, { versions: [1] });
    v1.peer.send(InnerKind.CREDIT, 1, encodeCombinedCredit(1, 1));
    expect(v1.peer.error()).toBe('protocol');
    const session = new RawPeer('daemon', {}, { versions: [1, 2] });
    session.send(InnerKind.CREDIT, 0, encodeCombinedCredit(1, 1));
    expect(session.error()).toBe('protocol');
  });

  it('§5 (version 2) when stream and session credit are both granted, they leave as one CREDIT (this implementation: the session\'s rides early)', async () => {
    const peer = new RawPeer('daemon', {}, { versions: [1, 2] });
    peer.open(1, { ...HTTP_GET, method: 'POST' });
    for (let i = 0; i < 4; i++) peer.send(InnerKind.DATA, 1, new Uint8Array(16 * 1024));
    const stream = peer.accepted[0]!;
    for (let i = 0; i < 4; i++) await stream.read();
    const credits = peer.frames(InnerKind.CREDIT);
    expect(credits.map((f) => Buffer.from(encodeInner(f.kind, f.streamId, f.body)).toString('hex'))).toEqual(['06000000010001000000010000']);
  });

  it('§5 bytes a reset stream held unread, and bytes for closed streams, are credited back to the session', () => {
    const peer = new RawPeer('daemon', { limits: { streamWindow: 4096, sessionWindow: 4096 } });
    peer.open(1, { ...HTTP_GET, method: 'POST' });
    peer.send(InnerKind.DATA, 1, new Uint8Array(1024));
    peer.send(InnerKind.RESET, 1, encodeCodeReason(StreamCode.cancel));
    expect(peer.credit(0)).toEqual([1024]);
    peer.send(InnerKind.DATA, 1, new Uint8Array(1024)); // late, for the closed stream
    expect(peer.credit(0)).toEqual([1024, 1024]);
    expect(peer.credit(1)).toEqual([]); // no stream credit for a dead stream
  });
});

describe('§6 cancellation and errors', () => {
  it('§6 a graceful GOAWAY carries going_away; any code is read alike: streams above lastStreamId fail with going_away', async () => {
    const daemon = new RawPeer('daemon');
    daemon.open(1);
    daemon.mux.shutdown();
    expect(decodeGoaway(daemon.frames(InnerKind.GOAWAY)[0]!.body)).toEqual({ lastStreamId: 1, code: StreamCode.going_away });
    daemon.open(3); // sent before the client saw our GOAWAY
    expect(daemon.reset(3)).toBe('going_away');

    const client = new RawPeer('client');
    const below = client.mux.open({ kind: 'http', method: 'GET', path: '/', headers: [] });
    const above = client.mux.open({ kind: 'http', method: 'GET', path: '/', headers: [] });
    client.send(InnerKind.GOAWAY, 0, encodeGoaway(1, StreamCode.internal));
    await expect(above.response).rejects.toMatchObject({ code: 'going_away' });
    expect(below.closed).toBe(false);
    expect(() => client.mux.open({ kind: 'http', method: 'GET', path: '/', headers: [] })).toThrowError(expect.objectContaining({ code: 'going_away' }));
  });

  it('§6 session_closed is local only: on the wire (RESET or ERROR) it reads as internal', async () => {
    const { peer, stream } = openedStream();
    peer.send(InnerKind.RESET, 1, encodeCodeReason(StreamCode.session_closed, 'x'));
    await expect(stream.response).rejects.toMatchObject({ code: 'internal', remote: true });
    const other = new RawPeer('daemon');
    other.send(InnerKind.ERROR, 0, encodeCodeReason(StreamCode.session_closed));
    expect(other.closedWith).toMatchObject({ code: 'internal' });
  });
});

describe('§7 channels', () => {
  it('§7 a text message that is not UTF-8 is RESET protocol', async () => {
    const { peer, stream } = acceptedChannel();
    peer.send(InnerKind.MESSAGE, 1, message(MessageFlag.text | MessageFlag.fin, Uint8Array.of(0xc3, 0x28)));
    expect(peer.reset(1)).toBe('protocol');
    await expect(stream.readMessage()).rejects.toMatchObject({ code: 'protocol' });
    const fine = acceptedChannel();
    fine.peer.send(InnerKind.MESSAGE, 1, message(MessageFlag.fin, Uint8Array.of(0xc3, 0x28))); // binary: any bytes
    expect(await fine.stream.readMessage()).toEqual({ data: Uint8Array.of(0xc3, 0x28), text: false });
  });

  it('§7 a text bit that changes between fragments of one message is RESET protocol', () => {
    const { peer } = acceptedChannel();
    peer.send(InnerKind.MESSAGE, 1, message(MessageFlag.text, 'ab'));
    peer.send(InnerKind.MESSAGE, 1, message(MessageFlag.fin, 'cd'));
    expect(peer.reset(1)).toBe('protocol');
    const fine = acceptedChannel();
    fine.peer.send(InnerKind.MESSAGE, 1, message(MessageFlag.text, 'ab'));
    fine.peer.send(InnerKind.MESSAGE, 1, message(MessageFlag.text | MessageFlag.fin, 'cd'));
    fine.peer.send(InnerKind.MESSAGE, 1, message(MessageFlag.fin, 'binary next')); // a new message may differ
    expect(fine.peer.reset(1)).toBeUndefined();
  });
});

describe('§8 session frames', () => {
  it('§8 at most 16 PINGs outstanding: the 17th fails locally (flow_control, nothing sent); a receiver answers every PING', async () => {
    const peer = new RawPeer('client');
    const pings = Array.from({ length: 16 }, () => peer.mux.ping());
    await expect(peer.mux.ping()).rejects.toMatchObject({ code: 'flow_control' });
    expect(peer.frames(InnerKind.PING)).toHaveLength(16);
    for (const frame of peer.frames(InnerKind.PING)) peer.send(InnerKind.PONG, 0, frame.body);
    await Promise.all(pings);

    const receiver = new RawPeer('daemon');
    for (let i = 0; i < 40; i++) receiver.send(InnerKind.PING, 0, Uint8Array.of(0, 0, 0, 0, 0, 0, 0, i));
    expect(receiver.frames(InnerKind.PONG).map((f) => f.body[7])).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  it('§8 either side may send GOAWAY: after the client\'s, the daemon opens nothing and an OPEN from the client is RESET protocol', () => {
    const peer = new RawPeer('daemon');
    peer.open(1);
    peer.send(InnerKind.GOAWAY, 0, encodeGoaway(0, StreamCode.going_away));
    expect(() => peer.mux.open({ kind: 'http', method: 'GET', path: '/', headers: [] })).toThrowError(expect.objectContaining({ code: 'going_away' }));
    expect(peer.accepted[0]!.closed).toBe(false); // open streams finish
    peer.open(3);
    expect(peer.reset(3)).toBe('protocol');
    expect(peer.accepted).toHaveLength(1);
  });

  it('§8 a failing channel handler puts RESET internal "channel handler failed" on the wire, never END first', async () => {
    const peer = new RawPeer('daemon', {
      onStream: (stream) =>
        routeStream(stream, {
          fetch: () => new Response('http'),
          onChannel: async (channel) => {
            for await (const m of channel) throw new Error(`secret detail ${String(m)}`);
          },
        }),
    });
    peer.open(1, CHANNEL);
    expect(decodeResponseHead(peer.frames(InnerKind.HEAD, 1)[0]!.body).status).toBe(200);
    peer.send(InnerKind.MESSAGE, 1, message(MessageFlag.text | MessageFlag.fin, 'hi'));
    await tick();
    expect(peer.frames(InnerKind.END, 1)).toEqual([]);
    const reset = peer.frames(InnerKind.RESET, 1)[0]!;
    expect(decodeCodeReason(reset.body)).toEqual({ code: StreamCode.internal, reason: 'channel handler failed' });
  });
});
