/**
 * Unit tests of the page ↔ worker message parsing and the reply-port request, under Node with
 * fakes (no service worker here). The real worker and browser are exercised by the browser
 * end-to-end tests.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MESSAGE_PROTOCOL_VERSION as v, type SidebandStatus } from '../sw/messages.js';
import { SidebandError } from './sideband-error.js';
import { parseWorkerNotice, replyStatus } from './worker-messages.js';
import { requestStatus, type MessageTarget } from './worker-request.js';

const status: SidebandStatus = { state: 'active', bootId: 'boot-1', aead: 'noble' };

describe('parseWorkerNotice', () => {
  it('reads statuses and events of our version', () => {
    expect(parseWorkerNotice({ v, type: 'status', status })).toEqual({ kind: 'status', status });
    expect(parseWorkerNotice({ v, type: 'event', name: 'tick', data: { n: 1 } })).toEqual({ kind: 'event', name: 'tick', data: { n: 1 } });
  });

  it('flags our message types from another version before reading their payload', () => {
    expect(parseWorkerNotice({ v: v + 1, type: 'status', status: 'anything' })).toEqual({ kind: 'version_mismatch', v: v + 1 });
    expect(parseWorkerNotice({ type: 'event', name: 'x' })).toEqual({ kind: 'version_mismatch', v: undefined });
  });

  it('ignores what is not ours or malformed', () => {
    for (const data of [null, 'status', { type: 'other', v }, { v, type: 'status', status: { state: 'active' } }, { v, type: 'event', name: 3 }]) {
      expect(parseWorkerNotice(data)).toBeUndefined();
    }
  });
});

describe('replyStatus', () => {
  it('returns the status of ok replies and throws the worker code otherwise', () => {
    expect(replyStatus({ ok: true, status })).toEqual(status);
    const error = catchError(() => replyStatus({ ok: false, code: 'invalid_code', message: 'no such code', status }));
    expect(error).toBeInstanceOf(SidebandError);
    expect(error).toMatchObject({ code: 'invalid_code', message: 'no such code', status });
    expect(catchError(() => replyStatus({ ok: true }))).toMatchObject({ code: 'bad_response' });
  });
});

describe('requestStatus', () => {
  afterEach(() => vi.restoreAllMocks());

  /** A stand-in worker: answers each request on its port with `answer(message)`. */
  function worker(answer: (message: { v: number; type: string }) => unknown): MessageTarget & { seen: unknown[] } {
    const seen: unknown[] = [];
    return {
      seen,
      postMessage(message: { v: number; type: string; port: MessagePort }, transfer: Transferable[]) {
        seen.push({ ...message, port: undefined, transferred: transfer.includes(message.port) });
        const reply = answer(message);
        if (reply !== undefined) message.port.postMessage(reply);
        message.port.close();
      },
    };
  }

  it('sends v and a transferred port, and resolves with the reply status', async () => {
    const target = worker(() => ({ ok: true, status }));
    await expect(requestStatus(target, { type: 'pair', code: 'ABCD', label: 'laptop' }, { timeoutMs: 1_000 })).resolves.toEqual(status);
    expect(target.seen).toEqual([{ v, type: 'pair', code: 'ABCD', label: 'laptop', port: undefined, transferred: true }]);
  });

  it('rejects worker_timeout when no reply comes', async () => {
    await expect(requestStatus(worker(() => undefined), { type: 'hello' }, { timeoutMs: 20 })).rejects.toMatchObject({ code: 'worker_timeout' });
  });

  it('rejects version_mismatch loudly', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    const target = worker(() => ({ ok: false, code: 'version_mismatch', message: 'worker speaks v2' }));
    await expect(requestStatus(target, { type: 'hello' }, { timeoutMs: 1_000 })).rejects.toMatchObject({ code: 'version_mismatch' });
    expect(logged).toHaveBeenCalledOnce();
  });

  it('rejects with the abort reason', async () => {
    const abort = new AbortController();
    const pending = requestStatus(worker(() => undefined), { type: 'forget' }, { timeoutMs: 1_000, signal: abort.signal });
    abort.abort(new SidebandError('closed', 'closed'));
    await expect(pending).rejects.toMatchObject({ code: 'closed' });
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}
