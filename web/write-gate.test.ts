import { describe, expect, it } from 'vitest';
import { WriteGate } from './write-gate.js';

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('WriteGate', () => {
  it('blocks at the high-water mark and calls onDrain once the buffer falls to the low-water mark', async () => {
    let buffered = 0;
    let drains = 0;
    const gate = new WriteGate({ bufferedAmount: () => buffered, highWaterMark: 1000, lowWaterMark: 100, pollMs: 1, onDrain: () => drains++ });
    expect(gate.isWritable()).toBe(true);
    buffered = 1000;
    expect(gate.isWritable()).toBe(false);
    expect(gate.isWritable()).toBe(false); // one poll timer, however often it is asked
    buffered = 500; // under high but above low: still waiting
    await tick(10);
    expect(drains).toBe(0);
    buffered = 100;
    await tick(10);
    expect(drains).toBe(1);
    expect(gate.isWritable()).toBe(true);
    gate.close();
  });

  it('does not poll while the transport is down; kick() resumes', async () => {
    let up = false;
    let drains = 0;
    const gate = new WriteGate({ bufferedAmount: () => 0, canWrite: () => up, pollMs: 1, onDrain: () => drains++ });
    expect(gate.isWritable()).toBe(false);
    await tick(10);
    expect(drains).toBe(0);
    up = true;
    gate.kick();
    expect(drains).toBe(1);
    expect(gate.isWritable()).toBe(true);
    gate.close();
  });

  it('with onFlush, resumes on the flush that brings the buffer down, without waiting for a poll', async () => {
    let buffered = 2000;
    let drains = 0;
    const listeners = new Set<() => void>();
    const gate = new WriteGate({
      bufferedAmount: () => buffered,
      highWaterMark: 1000,
      lowWaterMark: 100,
      onDrain: () => drains++,
      onFlush: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    });
    expect(gate.isWritable()).toBe(false);
    expect(listeners.size).toBe(1);
    buffered = 500;
    for (const l of [...listeners]) l();
    expect(drains).toBe(0);
    buffered = 50;
    for (const l of [...listeners]) l();
    expect(drains).toBe(1);
    expect(listeners.size).toBe(0); // unsubscribed once drained
    gate.close();
  });

  it('close() stops polling and is idempotent', async () => {
    let drains = 0;
    let buffered = 10;
    const gate = new WriteGate({ bufferedAmount: () => buffered, highWaterMark: 5, pollMs: 1, onDrain: () => drains++ });
    expect(gate.isWritable()).toBe(false);
    gate.close();
    gate.close();
    buffered = 0;
    await tick(10);
    expect(drains).toBe(0);
    expect(gate.isWritable()).toBe(false);
    gate.kick();
    expect(drains).toBe(0);
  });
});
