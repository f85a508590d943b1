import { describe, expect, it } from 'vitest';
import { HeldFrames } from './held-frames.js';

describe('HeldFrames', () => {
  it('keeps copies in order and refuses a frame past the byte limit', () => {
    const held = new HeldFrames(10);
    const a = Uint8Array.of(1, 2, 3, 4);
    expect(held.push(a)).toBe(true);
    a[0] = 99; // the held copy is independent of the socket's buffer
    expect(held.push(new Uint8Array(6))).toBe(true);
    expect(held.byteLength).toBe(10);
    expect(held.push(Uint8Array.of(1))).toBe(false);
    expect(held.size).toBe(2);
    expect(held.shift()![0]).toBe(1);
    expect(held.byteLength).toBe(6);
    expect(held.push(Uint8Array.of(1, 2, 3, 4))).toBe(true);
    held.clear();
    expect(held.size).toBe(0);
    expect(held.peek()).toBeUndefined();
  });
});
