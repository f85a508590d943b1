import type { Channel, ChannelData } from '../web/channel.js';
import { errorCode } from '../web/errors.js';
import type { WorkerConnection } from './connection.js';
import { SidebandHttpError } from './error-response.js';
import { LANE_CHANNEL_WINDOW, type LaneRequest, type LaneResponse } from './messages.js';
import { WORKER_DEFAULTS } from './worker-config.js';

interface LaneChannel {
  channel?: Channel;
  /** Messages delivered to the page and not yet acknowledged. */
  unacked: number;
  /** Wakes the reader waiting for acks. */
  credit?: () => void;
  closed: boolean;
}

/**
 * The fast lane of one page (design.md: a MessagePort round trip costs ~0.1 ms against ~2.5 ms
 * for a fetch through the worker): `call` for latency-critical requests, and channels
 * (terminal I/O). Channel delivery is credit-based: at most LANE_CHANNEL_WINDOW messages wait
 * in the page unacknowledged, so a stalled page stops the worker reading, which stops the
 * daemon (stream credit), and nothing buffers without bound.
 */
export class Lane {
  private readonly channels = new Map<number, LaneChannel>();
  private closed = false;

  constructor(
    private readonly port: MessagePort,
    private readonly connection: WorkerConnection,
    private readonly onClose: () => void,
  ) {
    port.onmessage = (event: MessageEvent<LaneRequest>) => this.receive(event.data);
    port.start();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const entry of this.channels.values()) this.end(entry);
    this.channels.clear();
    this.port.onmessage = null;
    this.port.close();
    this.onClose();
  }

  private post(message: LaneResponse, transfer: Transferable[] = []): void {
    if (!this.closed) this.port.postMessage(message, transfer);
  }

  private receive(message: LaneRequest): void {
    if (typeof message !== 'object' || message === null) return;
    switch (message.type) {
      case 'call':
        void this.call(message);
        return;
      case 'channel-open':
        void this.openChannel(message.id, message.path, message.headers);
        return;
      case 'channel-send': {
        const entry = this.channels.get(message.id);
        if (!entry?.channel) return this.post({ type: 'channel-closed', id: message.id, code: 'channel_closed', message: 'no such open channel' });
        const data: ChannelData = typeof message.data === 'string' ? message.data : new Uint8Array(message.data);
        entry.channel.send(data).then(
          () => this.post({ type: 'channel-sent', id: message.id }),
          () => {}, // the channel failed: its 'channel-closed' says why
        );
        return;
      }
      case 'channel-ack': {
        const entry = this.channels.get(message.id);
        if (!entry) return;
        entry.unacked = Math.max(0, entry.unacked - (Number.isSafeInteger(message.count) ? message.count : 0));
        entry.credit?.();
        return;
      }
      case 'channel-close': {
        const entry = this.channels.get(message.id);
        entry?.channel?.close();
        return;
      }
      case 'bye':
        this.close();
        return;
    }
  }

  private async call(message: Extract<LaneRequest, { type: 'call' }>): Promise<void> {
    const { id } = message;
    try {
      const client = await this.connection.acquire(NEVER_ABORTED);
      // A whole exchange on a stream: no Request, Response or ReadableStream for a small call (issue 9).
      const body = message.body && message.body.byteLength > 0 ? new Uint8Array(message.body) : undefined;
      const answer = await client.exchange({ method: message.method, path: message.path, headers: message.headers, body }, { maxBodyBytes: WORKER_DEFAULTS.maxCallResponseBytes });
      const out = answer.body.buffer;
      this.post({ type: 'call-result', id, status: answer.status, headers: answer.headers, body: out }, [out]);
    } catch (error) {
      const code = error instanceof SidebandHttpError ? error.code : (errorCode(error) ?? 'internal');
      this.post({ type: 'call-error', id, code, message: error instanceof Error ? error.message : String(error) });
    }
  }

  private async openChannel(id: number, path: string, headers: [string, string][]): Promise<void> {
    if (this.channels.has(id) || this.channels.size >= WORKER_DEFAULTS.maxChannelsPerLane) {
      return this.post({ type: 'channel-closed', id, code: 'refused', message: `at most ${WORKER_DEFAULTS.maxChannelsPerLane} channels per page, ids unique` });
    }
    const entry: LaneChannel = { unacked: 0, closed: false };
    this.channels.set(id, entry);
    let channel: Channel;
    try {
      const client = await this.connection.acquire(new AbortController().signal);
      channel = await client.channel(path, { headers });
    } catch (error) {
      this.channels.delete(id);
      const code = error instanceof SidebandHttpError ? error.code : (errorCode(error) ?? 'internal');
      return this.post({ type: 'channel-closed', id, code, message: error instanceof Error ? error.message : String(error) });
    }
    if (entry.closed) return channel.close();
    entry.channel = channel;
    this.post({ type: 'channel-opened', id });
    try {
      for await (const data of channel) {
        while (entry.unacked >= LANE_CHANNEL_WINDOW && !entry.closed) await new Promise<void>((resolve) => (entry.credit = resolve));
        if (entry.closed) break;
        entry.unacked++;
        if (typeof data === 'string') this.post({ type: 'channel-message', id, data });
        else {
          const copy = data.slice().buffer;
          this.post({ type: 'channel-message', id, data: copy }, [copy]);
        }
      }
      const error = await channel.closed;
      this.post({ type: 'channel-closed', id, ...(error ? { code: error.code, message: error.message } : {}) });
    } catch (error) {
      this.post({ type: 'channel-closed', id, code: errorCode(error) ?? 'internal', message: error instanceof Error ? error.message : String(error) });
    } finally {
      this.channels.delete(id);
    }
  }

  private end(entry: LaneChannel): void {
    entry.closed = true;
    entry.credit?.();
    entry.channel?.abort('cancel', 'the page went away');
  }
}

/** Calls wait for a session as long as the connection allows (sessionWaitMs); the page has its own probe. */
const NEVER_ABORTED = new AbortController().signal;
