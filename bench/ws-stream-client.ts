/**
 * Baseline C for throughput (bench/node.bench.ts): bytes streamed over a bare WebSocket
 * through the bare `ws` forwarder child to the daemon child's `ws` server, with no encryption,
 * no checks and no flow control but the sockets' own. It is the floor of the relayed topology
 * on this machine: what any design with a WebSocket hop in the middle can reach.
 *
 * Messages after the forwarder's 4-byte connection id: a JSON request or answer (first byte
 * `{`), or a data message (first byte 0x01, then body bytes).
 */
import type { WebSocket } from 'ws';
import { openWebSocket } from './open-web-socket.js';

export const DATA_KIND = 0x01;

/** Stop sending while the socket buffers this much: the sender waits for the kernel, not a peer's credit. */
const HIGH_WATER = 1024 * 1024;

export class WsStreamClient {
  private nextId = 1;
  private onData: ((bytes: number) => void) | undefined;
  private onAnswer: ((answer: { id: number; length: number }) => void) | undefined;

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data: Buffer) => {
      if (data[0] === DATA_KIND) this.onData?.(data.length - 1);
      else this.onAnswer?.(JSON.parse(data.toString()) as { id: number; length: number });
    });
  }

  static async open(url: string): Promise<WsStreamClient> {
    return new WsStreamClient(await openWebSocket(url));
  }

  /** Asks for `size` bytes of /bytes and resolves with the count once that many arrived. */
  download(size: number): Promise<number> {
    return new Promise((resolve) => {
      let received = 0;
      this.onData = (bytes) => {
        received += bytes;
        if (received >= size) resolve(received);
      };
      this.socket.send(JSON.stringify({ id: this.nextId++, method: 'DOWNLOAD', path: `/bytes?size=${size}` }));
    });
  }

  /** Sends `size` bytes in 64 KiB data messages; resolves with the length the daemon counted. */
  async upload(size: number): Promise<number> {
    const id = this.nextId++;
    const answered = new Promise<number>((resolve) => (this.onAnswer = (answer) => answer.id === id && resolve(answer.length)));
    this.socket.send(JSON.stringify({ id, method: 'UPLOAD', size }));
    const chunk = new Uint8Array(1 + 64 * 1024).fill(3);
    chunk[0] = DATA_KIND;
    for (let sent = 0; sent < size; ) {
      const n = Math.min(chunk.length - 1, size - sent);
      const message = chunk.slice(0, 1 + n); // a fresh buffer per message, as a producer's chunks are
      if (this.socket.bufferedAmount > HIGH_WATER) await new Promise<void>((resolve) => this.socket.send(message, () => resolve()));
      else this.socket.send(message);
      sent += n;
    }
    return answered;
  }

  close(): void {
    this.socket.close();
  }
}
