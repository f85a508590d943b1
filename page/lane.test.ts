/**
 * Unit tests of the lane's routing by id, over a fake port (under Node). The lane against the
 * real worker is tested in the browser end-to-end tests.
 */
import { describe, expect, it } from 'vitest';
import type { LaneRequest, LaneResponse } from '../sw/messages.js';
import { Lane, type LanePort } from './lane.js';
import { encodeCall } from './lane-codec.js';

class FakePort extends EventTarget implements LanePort {
  readonly sent: LaneRequest[] = [];
  closed = false;
  postMessage(message: LaneRequest): void {
    this.sent.push(message);
  }
  start(): void {}
  close(): void {
    this.closed = true;
  }
  answer(message: LaneResponse): void {
    this.dispatchEvent(new MessageEvent('message', { data: message }));
  }
}

describe('Lane', () => {
  it('numbers requests with increasing ids and routes answers by id', async () => {
    const port = new FakePort();
    const lane = new Lane(port);
    const first = lane.call(await encodeCall('/a'));
    const second = lane.call(await encodeCall('/b'));
    expect(port.sent.map((message) => [message.type, 'id' in message ? message.id : undefined])).toEqual([
      ['call', 1],
      ['call', 2],
    ]);
    port.answer({ type: 'call-error', id: 2, code: 'daemon_offline', message: 'offline' });
    port.answer({ type: 'call-result', id: 1, status: 200, headers: [], body: new TextEncoder().encode('ok').buffer });
    await expect(second).rejects.toMatchObject({ code: 'daemon_offline' });
    expect(await (await first).text()).toBe('ok');
    expect(lane.busy).toBe(false);
  });

  it('opens channels, or rejects with the worker code', async () => {
    const port = new FakePort();
    const lane = new Lane(port);
    const refused = lane.openChannel('/nope', []);
    port.answer({ type: 'channel-closed', id: 1, code: 'channel_refused', message: '404' });
    await expect(refused).rejects.toMatchObject({ code: 'channel_refused' });

    const opening = lane.openChannel('/term', [['x-cols', '80']]);
    expect(port.sent.at(-1)).toEqual({ type: 'channel-open', id: 2, path: '/term', headers: [['x-cols', '80']] });
    port.answer({ type: 'channel-opened', id: 2 });
    const channel = await opening;
    const seen: unknown[] = [];
    channel.onmessage = (event) => seen.push(event.data);
    port.answer({ type: 'channel-message', id: 2, data: 'hi' });
    port.answer({ type: 'channel-message', id: 2, data: 'there' });
    expect(seen).toEqual(['hi', 'there']);
    void channel.send('ls');
    expect(port.sent.at(-1)).toEqual({ type: 'channel-send', id: 2, data: 'ls' });
    port.answer({ type: 'channel-closed', id: 2 });
    await expect(channel.closed).resolves.toEqual({});
    expect(lane.busy).toBe(false);
  });

  it('fails everything on it at once when the worker restarted, and says bye when asked', async () => {
    const port = new FakePort();
    const lane = new Lane(port);
    const call = lane.call(await encodeCall('/slow'));
    const opening = lane.openChannel('/term', []);
    port.answer({ type: 'channel-opened', id: 2 });
    const channel = await opening;
    lane.bye('worker_restarted', 'the worker restarted');
    expect(port.sent.at(-1)).toEqual({ type: 'bye' });
    expect(port.closed).toBe(true);
    await expect(call).rejects.toMatchObject({ code: 'worker_restarted' });
    await expect(channel.closed).resolves.toEqual({ code: 'worker_restarted', message: 'the worker restarted' });
    await expect(lane.call(await encodeCall('/later'))).rejects.toMatchObject({ code: 'worker_restarted' });
  });

  it("treats the port's close event as the worker going away", async () => {
    const port = new FakePort();
    let noticed = 0;
    const lane = new Lane(port, { onPortClosed: () => noticed++ });
    const call = lane.call(await encodeCall('/x'));
    port.dispatchEvent(new Event('close'));
    await expect(call).rejects.toMatchObject({ code: 'worker_restarted' });
    expect(noticed).toBe(1);
  });
});
