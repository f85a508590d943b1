/**
 * Channels over two in-memory multiplexers, with the daemon's channel routing. Through a real
 * relay: test/e2e-http-features.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Mux } from '../protocol/stream/mux.js';
import type { StreamError } from '../protocol/stream/stream-error.js';
import { routeStream, type ChannelRoutes } from '../daemon/route-stream.js';
import { ChannelError, openChannel, type Channel, type ChannelLimits } from './channel.js';

const live: Mux[] = [];
afterEach(() => {
  for (const m of live.splice(0)) m.close();
});

function pair(onChannel: ChannelRoutes | undefined, channelLimits?: Partial<ChannelLimits>) {
  const ends: { d?: Mux } = {};
  const c = new Mux({ role: 'client', send: (f) => setImmediate(() => ends.d!.receive(f)) });
  const d = new Mux({
    role: 'daemon',
    send: (f) => setImmediate(() => c.receive(f)),
    onStream: (stream) => routeStream(stream, { fetch: () => new Response('http'), onChannel, channelLimits }),
  });
  ends.d = d;
  live.push(c, d);
  c.start();
  d.start();
  return { c, d };
}

const echo = async (channel: Channel) => {
  for await (const message of channel) await channel.send(message);
};

describe('channels', () => {
  it('echoes text and binary messages in order, through async iteration', async () => {
    const { c } = pair({ '/echo': echo });
    const channel = await openChannel(c, '/echo?x=1');
    const sent: (string | Uint8Array)[] = ['hello', new Uint8Array([1, 2, 3]), '', 'ü', new Uint8Array(100_000).fill(9)];
    for (const m of sent) void channel.send(m);
    const got: (string | Uint8Array)[] = [];
    for await (const m of channel) {
      got.push(m);
      if (got.length === sent.length) break;
    }
    expect(got.slice(0, 4)).toEqual(sent.slice(0, 4));
    expect((got[4] as Uint8Array).length).toBe(100_000);
    expect(await channel.closed).toBeUndefined();
  });

  it("delivers through on('message') and reports a clean close both ways", async () => {
    let daemonSide: Channel | undefined;
    const { c } = pair((channel) => {
      daemonSide = channel;
      channel.on('message', (m) => void channel.send(`re: ${String(m)}`));
    });
    const channel = await openChannel(c, '/any');
    const got: string[] = [];
    const closed = new Promise<StreamError | undefined>((resolve) => channel.on('close', resolve));
    channel.on('message', (m) => got.push(m as string));
    await channel.send('a');
    await channel.send('b');
    await new Promise((r) => setTimeout(r, 20));
    expect(got).toEqual(['re: a', 're: b']);
    channel.close();
    expect(await closed).toBeUndefined();
    expect(await daemonSide!.closed).toBeUndefined();
    expect(() => channel[Symbol.asyncIterator]()).toThrow(TypeError); // one way of reading per channel
  });

  it('refuses an unknown path with 404 and a channel-less daemon likewise', async () => {
    const { c } = pair({ '/known': echo });
    await expect(openChannel(c, '/unknown')).rejects.toMatchObject({ code: 'channel_refused', status: 404 });
    const other = pair(undefined);
    const error = await openChannel(other.c, '/x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChannelError);
  });

  it('a throwing handler resets the channel with internal; the session carries on', async () => {
    const { c } = pair({
      '/boom': () => {
        throw new Error('handler bug');
      },
      '/echo': echo,
    });
    const broken = await openChannel(c, '/boom');
    await expect(broken.closed).resolves.toMatchObject({ code: 'internal' });
    const fine = await openChannel(c, '/echo');
    await fine.send('still here');
    const it = fine[Symbol.asyncIterator]();
    expect((await it.next()).value).toBe('still here');
  });

  it('a handler that throws while iterating fails the client channel with internal, not a clean end', async () => {
    const { c } = pair({
      '/iter': async (channel) => {
        for await (const message of channel) throw new Error(`handler bug on ${String(message)}`);
      },
    });
    const channel = await openChannel(c, '/iter');
    await channel.send('first');
    const iterator = channel[Symbol.asyncIterator]();
    await expect(iterator.next()).rejects.toMatchObject({ code: 'internal', remote: true });
    await expect(channel.closed).resolves.toMatchObject({ code: 'internal' });
  });

  it('a message over the peer maxMessageBytes fails loudly at the sender: the channel fails on both sides', async () => {
    let daemonSide: Channel | undefined;
    const { c } = pair((channel) => {
      daemonSide = channel;
    });
    const channel = await openChannel(c, '/big');
    void channel.send(new Uint8Array(256 * 1024)); // fire-and-forget: the loss must still show
    await expect(channel.closed).resolves.toMatchObject({ code: 'message_too_large' });
    await expect(channel.send('after')).rejects.toMatchObject({ code: 'message_too_large' });
    await expect(daemonSide!.closed).resolves.toMatchObject({ code: 'message_too_large', remote: true });
  });

  it('fails loudly, never silently, when fire-and-forget sends pass the queue bound', async () => {
    const { c } = pair({ '/sink': () => {} }); // accepts and never reads
    const channel = await openChannel(c, '/sink');
    const limits = { maxQueuedMessages: 1024 };
    const results = Array.from({ length: limits.maxQueuedMessages + 200 }, () => channel.send(new Uint8Array(4096)));
    const settled = await Promise.allSettled(results);
    const rejected = settled.filter((r) => r.status === 'rejected');
    expect(rejected.length).toBeGreaterThan(0);
    expect(await channel.closed).toMatchObject({ code: 'flow_control' });
    await expect(channel.send('late')).rejects.toMatchObject({ code: 'flow_control' });
  });

  it('send after close() rejects with channel_closed; leaving a for-await early stops the peer', async () => {
    let daemonSide: Channel | undefined;
    const { c } = pair((channel) => {
      daemonSide = channel;
      void (async () => {
        for (let i = 0; ; i++) await channel.send(`tick ${i}`);
      })().catch(() => {});
    });
    const channel = await openChannel(c, '/ticks');
    for await (const m of channel) if (m === 'tick 5') break;
    await expect(channel.send('x')).rejects.toMatchObject({ code: 'channel_closed' });
    const peerEnd = await daemonSide!.closed;
    expect(peerEnd?.code).toBe('cancel'); // RESET after our END: the producer stops
  });
});
