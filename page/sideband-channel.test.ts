/**
 * Unit tests of the channel's reading, acks and bounds, fed by a fake lane (under Node). Real
 * channels through the worker to a daemon are tested in the browser end-to-end tests.
 */
import { describe, expect, it } from 'vitest';
import { LANE_CHANNEL_WINDOW } from '../sw/messages.js';
import { AckBatcher } from './ack-batcher.js';
import { SidebandChannel, type ChannelLink } from './sideband-channel.js';

function open(limits = {}) {
  const log: unknown[] = [];
  const link: ChannelLink = {
    send: (data) => log.push({ send: data }),
    ack: (count) => log.push({ ack: count }),
    close: () => log.push('close'),
    release: () => log.push('release'),
  };
  const { channel, sink } = SidebandChannel.attach('/term', link, limits);
  const acks = () => log.filter((entry): entry is { ack: number } => typeof entry === 'object' && entry !== null && 'ack' in entry).map((entry) => entry.ack);
  return { channel, sink, log, acks };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('AckBatcher', () => {
  it('acks in batches and flushes the rest on demand', () => {
    const sent: number[] = [];
    const acks = new AckBatcher(3, (count) => sent.push(count));
    for (let i = 0; i < 7; i++) acks.consumed();
    acks.flush();
    acks.flush();
    expect(sent).toEqual([3, 3, 1]);
  });
});

describe('SidebandChannel', () => {
  it('dispatches to listeners and onmessage, acking every batch', async () => {
    const { channel, sink, acks } = open({ ackBatch: 16 });
    const seen: unknown[] = [];
    channel.onmessage = (event) => seen.push(event.data);
    for (let i = 0; i < 40; i++) sink.message(`m${i}`);
    await tick();
    expect(seen).toHaveLength(40);
    expect(seen[39]).toBe('m39');
    expect(acks()).toEqual([16, 16]);
  });

  it('keeps messages that came before the first listener, within the window', async () => {
    const { channel, sink } = open();
    sink.message('early');
    const seen: unknown[] = [];
    channel.addEventListener('message', (event) => seen.push(event.data));
    expect(seen).toEqual([]); // delivered after the caller's task, so every listener added now gets it
    await tick();
    expect(seen).toEqual(['early']);
  });

  it('acks only what async iteration consumed, so unconsumed messages stay within the window', async () => {
    const { channel, sink, acks } = open({ ackBatch: 16 });
    for (let i = 0; i < LANE_CHANNEL_WINDOW; i++) sink.message(new Uint8Array([i]).buffer);
    expect(acks()).toEqual([]); // nothing consumed yet: the worker has no credit left
    const iterator = channel[Symbol.asyncIterator]();
    for (let i = 0; i < 16; i++) await iterator.next();
    expect(acks()).toEqual([16]);
    sink.closed({});
    let rest = 0;
    for (let result = await iterator.next(); !result.done; result = await iterator.next()) rest++;
    expect(rest).toBe(LANE_CHANNEL_WINDOW - 16); // a clean close still delivers what arrived
  });

  it('fails with flow_control rather than buffer past the window', async () => {
    const { channel, sink, log } = open();
    for (let i = 0; i <= LANE_CHANNEL_WINDOW; i++) sink.message('x');
    await expect(channel.closed).resolves.toMatchObject({ code: 'flow_control' });
    expect(log).toContain('close');
    let delivered = 0;
    await expect(
      (async () => {
        for await (const _ of channel) delivered++;
      })(),
    ).rejects.toMatchObject({ code: 'flow_control' });
    expect(delivered).toBe(LANE_CHANNEL_WINDOW + 1);
  });

  it('ends iteration with an error when the channel failed, and a close event either way', async () => {
    const { channel, sink } = open();
    const closes: unknown[] = [];
    channel.addEventListener('close', (event) => closes.push(event.detail));
    sink.message('last');
    sink.closed({ code: 'worker_restarted', message: 'gone' });
    const read: unknown[] = [];
    await expect(
      (async () => {
        for await (const data of channel) read.push(data);
      })(),
    ).rejects.toMatchObject({ code: 'worker_restarted' });
    expect(read).toEqual(['last']);
    expect(closes).toEqual([{ code: 'worker_restarted', message: 'gone' }]);
  });

  it('resolves sends on channel-sent in order and rejects them when the channel fails', async () => {
    const { channel, sink, log } = open();
    const first = channel.send('a');
    const second = channel.send(new Uint8Array([1]));
    expect(log).toEqual([{ send: 'a' }, { send: expect.any(ArrayBuffer) }]);
    sink.sent();
    await expect(first).resolves.toBeUndefined();
    sink.closed({ code: 'daemon_offline' });
    await expect(second).rejects.toMatchObject({ code: 'daemon_offline' });
    await expect(channel.send('late')).rejects.toMatchObject({ code: 'channel_closed' });
  });

  it('bounds sends awaiting the worker', async () => {
    const { channel } = open({ maxPendingSends: 2 });
    void channel.send('1');
    void channel.send('2');
    await expect(channel.send('3')).rejects.toMatchObject({ code: 'flow_control' });
    await expect(channel.closed).resolves.toMatchObject({ code: 'flow_control' });
  });

  it('close() is local and idempotent; a break in for-await closes too; earlier sends still settle', async () => {
    const { channel, sink, log } = open();
    const sent = channel.send('bye');
    const reader = (async () => {
      for await (const _ of channel) break;
    })();
    sink.message('x');
    await reader;
    channel.close();
    expect(log.filter((entry) => entry === 'close')).toHaveLength(1);
    await expect(channel.closed).resolves.toEqual({});
    expect(log).not.toContain('release'); // the send still needs its 'channel-sent'
    sink.sent();
    await expect(sent).resolves.toBeUndefined();
    expect(log).toContain('release');
  });

  it('refuses two kinds of reader', () => {
    const { channel } = open();
    channel.onmessage = () => {};
    expect(() => channel[Symbol.asyncIterator]()).toThrow(TypeError);
  });
});
