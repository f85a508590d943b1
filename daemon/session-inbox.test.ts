import { describe, expect, it } from 'vitest';
import { SessionInbox } from './session-inbox.js';
import { CircuitBreaker } from './circuit-breaker.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('SessionInbox', () => {
  it('delivers in order, one at a time, and refuses past the count limit', async () => {
    const delivered: number[] = [];
    let release!: () => void;
    let gate = new Promise<void>((r) => (release = r));
    const inbox = new SessionInbox({ maxMessages: 3, maxBytes: 1000 }, () => async (data) => {
      delivered.push(data[0]!);
      await gate;
    }, () => {});
    expect([1, 2, 3].map((n) => inbox.push(Uint8Array.of(n)))).toEqual([true, true, true]);
    expect(inbox.push(Uint8Array.of(4))).toBe(false);
    await tick();
    expect(delivered).toEqual([1]);
    gate = Promise.resolve();
    release();
    await tick();
    await tick();
    expect(delivered).toEqual([1, 2, 3]);
    expect(inbox.size).toEqual({ messages: 0, bytes: 0 });
  });

  it('counts bytes, including the message being handled', async () => {
    const inbox = new SessionInbox({ maxMessages: 100, maxBytes: 10 }, () => () => new Promise<void>(() => {}), () => {});
    expect(inbox.push(new Uint8Array(6))).toBe(true);
    await tick();
    expect(inbox.push(new Uint8Array(4))).toBe(true);
    expect(inbox.push(new Uint8Array(1))).toBe(false);
  });

  it('reports a throwing handler and keeps delivering', async () => {
    const errors: unknown[] = [];
    const seen: number[] = [];
    const inbox = new SessionInbox({ maxMessages: 10, maxBytes: 100 }, () => (data) => {
      seen.push(data[0]!);
      if (data[0] === 1) throw new Error('boom');
    }, (e) => errors.push(e));
    inbox.push(Uint8Array.of(1));
    inbox.push(Uint8Array.of(2));
    await tick();
    expect(seen).toEqual([1, 2]);
    expect(errors).toHaveLength(1);
  });

  it('holds messages until a handler exists, and delivers nothing after close', async () => {
    const slot: { handler?: (d: Uint8Array) => void } = {};
    const seen: number[] = [];
    const inbox = new SessionInbox({ maxMessages: 10, maxBytes: 100 }, () => slot.handler, () => {});
    inbox.push(Uint8Array.of(1));
    await tick();
    slot.handler = (d) => void seen.push(d[0]!);
    inbox.kick();
    await tick();
    expect(seen).toEqual([1]);
    inbox.close();
    inbox.push(Uint8Array.of(2));
    await tick();
    expect(seen).toEqual([1]);
  });
});

describe('CircuitBreaker', () => {
  it('trips at N failures inside the window only', () => {
    let now = 0;
    const breaker = new CircuitBreaker({ maxErrors: 3, windowMs: 1000 }, () => now);
    expect([breaker.record(), breaker.record()]).toEqual([false, false]);
    now = 1500; // the first two fell out of the window
    expect([breaker.record(), breaker.record()]).toEqual([false, false]);
    expect(breaker.record()).toBe(true);
    expect(breaker.record()).toBe(false); // starts over after tripping
  });
});
