/**
 * Unit tests of how `call()` arguments and answers cross the lane (pure, under Node). The lane
 * against the real worker is tested in the browser end-to-end tests.
 */
import { describe, expect, it } from 'vitest';
import { decodeCallResult, encodeCall, encodeChannelData } from './lane-codec.js';

const bytes = (buffer: ArrayBuffer | undefined) => [...new Uint8Array(buffer ?? new ArrayBuffer(0))];

describe('encodeCall', () => {
  it('sends a GET with header pairs and no body', async () => {
    const { message, transfer } = await encodeCall('/api/hello?x=1', { headers: { 'X-Trace': 'a', Accept: 'text/plain' } });
    expect(message).toEqual({ type: 'call', method: 'GET', path: '/api/hello?x=1', headers: [['accept', 'text/plain'], ['x-trace', 'a']] });
    expect(transfer).toEqual([]);
  });

  it('reads any body into one transferred ArrayBuffer, with its content type like fetch', async () => {
    const { message, transfer } = await encodeCall('/echo', { method: 'post', body: 'hé' });
    expect(message.method).toBe('POST');
    expect(bytes(message.body)).toEqual([0x68, 0xc3, 0xa9]);
    expect(message.headers).toEqual([['content-type', 'text/plain;charset=UTF-8']]);
    expect(transfer).toEqual([message.body]);

    const typed = await encodeCall('/echo', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: new Uint8Array([1, 2]) });
    expect(typed.message.headers).toEqual([['content-type', 'application/json']]);
    expect(bytes(typed.message.body)).toEqual([1, 2]);

    const streamed = await encodeCall('/upload', { method: 'POST', body: new Blob(['ab', 'c']).stream() });
    expect(bytes(streamed.message.body)).toEqual([0x61, 0x62, 0x63]);
  });

  it('keeps the case of unusual methods and refuses what fetch refuses', async () => {
    expect((await encodeCall('/x', { method: 'patch' })).message.method).toBe('patch');
    await expect(encodeCall('/x', { body: 'no' })).rejects.toThrow(TypeError);
    await expect(encodeCall('https://example.com/x')).rejects.toThrow(TypeError);
    await expect(encodeCall('sideband/x')).rejects.toThrow(TypeError);
  });
});

describe('decodeCallResult', () => {
  const body = new TextEncoder().encode('{"ok":true}').buffer;

  it('makes a Response with status, headers and body', async () => {
    const response = decodeCallResult({ type: 'call-result', id: 1, status: 201, headers: [['content-type', 'application/json']], body });
    expect(response.status).toBe(201);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toEqual({ ok: true });
  });

  it('gives null-body statuses no body', () => {
    for (const status of [204, 205, 304]) expect(decodeCallResult({ type: 'call-result', id: 1, status, headers: [], body }).body).toBeNull();
  });

  it('turns an answer no Response can carry into bad_response', () => {
    expect(() => decodeCallResult({ type: 'call-result', id: 1, status: 101, headers: [], body })).toThrow(expect.objectContaining({ code: 'bad_response' }));
    expect(() => decodeCallResult({ type: 'call-result', id: 1, status: 200, headers: [['bad name', 'x']], body })).toThrow(expect.objectContaining({ code: 'bad_response' }));
  });
});

describe('encodeChannelData', () => {
  it('passes strings, clones ArrayBuffers and copies views into a transferable buffer', () => {
    expect(encodeChannelData('hi')).toEqual({ data: 'hi', transfer: [] });
    const buffer = new Uint8Array([1, 2]).buffer;
    expect(encodeChannelData(buffer)).toEqual({ data: buffer, transfer: [] });
    const view = new Uint8Array([9, 1, 2, 3, 9]).subarray(1, 4);
    const encoded = encodeChannelData(view);
    expect(bytes(encoded.data as ArrayBuffer)).toEqual([1, 2, 3]);
    expect(encoded.transfer).toEqual([encoded.data]);
    expect(view.byteLength).toBe(3); // the caller's bytes stay theirs
    expect(() => encodeChannelData(42 as unknown as string)).toThrow(TypeError);
  });
});
