import { describe, expect, it } from 'vitest';
import { generateEphemeral, type EphemeralKeyPair } from './handshake.js';
import { randomBytes } from './random.js';
import { EphemeralAhead } from './ephemeral-ahead.js';

/** A key maker that counts its calls (noble: the private key is raw bytes the test can see). */
function counting(): { make: () => EphemeralKeyPair; made: EphemeralKeyPair[] } {
  const made: EphemeralKeyPair[] = [];
  return {
    made,
    make: () => {
      const key = generateEphemeral(randomBytes);
      made.push(key);
      return key;
    },
  };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('EphemeralAhead', () => {
  it('makes the key after the current turn, not in it, and take() hands over that key', async () => {
    const { make, made } = counting();
    const ahead = new EphemeralAhead(make);
    expect(made).toHaveLength(0); // the token request of this turn leaves first
    await nextTurn();
    expect(made).toHaveLength(1);
    expect(ahead.take()).toBe(made[0]);
    expect(made).toHaveLength(1);
  });

  it('take() before the key was made makes it then, once: the pending one is not made later', async () => {
    const { make, made } = counting();
    const ahead = new EphemeralAhead(make);
    const key = ahead.take();
    expect(made).toEqual([key]);
    await nextTurn();
    expect(made).toHaveLength(1);
  });

  it('take() is once only: a second call makes a new key, never the same one twice', async () => {
    const { make } = counting();
    const ahead = new EphemeralAhead(make);
    await nextTurn();
    const first = ahead.take();
    const second = ahead.take();
    expect(second.publicKey).not.toEqual(first.publicKey);
  });

  it('a key that fails to be made ahead is made again by take(), where the failure can be caught', async () => {
    let calls = 0;
    const ahead = new EphemeralAhead(() => {
      calls++;
      if (calls === 1) throw new Error('no entropy yet');
      return generateEphemeral(randomBytes);
    });
    await nextTurn(); // the failing attempt: no uncaught exception
    expect(calls).toBe(1);
    expect(ahead.take().publicKey).toHaveLength(32);
    expect(calls).toBe(2);
  });

  it('discard() wipes a key nobody took', async () => {
    const { make, made } = counting();
    const ahead = new EphemeralAhead(make);
    await nextTurn();
    expect(made[0]!.privateKey.some((byte) => byte !== 0)).toBe(true);
    ahead.discard();
    expect(made[0]!.privateKey.every((byte) => byte === 0)).toBe(true);
  });

  it('discard() before the key was made means it is never made', async () => {
    const { make, made } = counting();
    const ahead = new EphemeralAhead(make);
    ahead.discard();
    await nextTurn();
    await nextTurn();
    expect(made).toHaveLength(0);
  });
});
