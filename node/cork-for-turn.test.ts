/**
 * corkForTurn on real `ws` sockets over loopback (port 0): both ends expose their TCP socket,
 * frames sent in one turn wait in one write and arrive as separate messages in order, and
 * the socket is uncorked when the turn ends.
 */
import { once } from 'node:events';
import { Socket, type AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { corkForTurn, tcpSocketOf } from './cork-for-turn.js';

let wss: WebSocketServer;
let client: WebSocket;
let server: WebSocket;

beforeEach(async () => {
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const accepted = once(wss, 'connection');
  client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  await once(client, 'open');
  [server] = (await accepted) as [WebSocket];
});

afterEach(async () => {
  client.terminate();
  await new Promise((resolve) => wss.close(resolve));
});

/** Resolves after `count` messages on `ws`, with their bytes in arrival order. */
function messages(ws: WebSocket, count: number): Promise<Buffer[]> {
  const got: Buffer[] = [];
  return new Promise((resolve) => {
    const onMessage = (data: Buffer): void => {
      got.push(data);
      if (got.length < count) return;
      ws.off('message', onMessage);
      resolve(got);
    };
    ws.on('message', onMessage);
  });
}

describe('corkForTurn', () => {
  it('finds the TCP socket under a client-side and a server-side ws socket', () => {
    // If a ws upgrade moves its private `_socket`, this fails instead of batching silently stopping.
    expect(tcpSocketOf(client)).toBeInstanceOf(Socket);
    expect(tcpSocketOf(server)).toBeInstanceOf(Socket);
  });

  it('holds every write of the turn and lets them go together when the turn ends', async () => {
    const socket = tcpSocketOf(server)!;
    const arriving = messages(client, 3);
    for (const fill of [1, 2, 3]) {
      corkForTurn(server);
      server.send(Buffer.alloc(10, fill));
    }
    // Corked once however many sends: the first call corks, the rest find it corked.
    expect(socket.writableCorked).toBe(1);
    expect(socket.writableLength).toBeGreaterThan(0);
    await new Promise<void>((resolve) => process.nextTick(resolve));
    expect(socket.writableCorked).toBe(0);
    // Still one message per send, in order (sbrp.md §1: one frame per WebSocket message).
    expect((await arriving).map((m) => m[0])).toEqual([1, 2, 3]);
  });

  it('uncorks every socket of the turn, and corks again in the next turn', async () => {
    const sockets = [tcpSocketOf(server)!, tcpSocketOf(client)!];
    corkForTurn(server);
    corkForTurn(client);
    expect(sockets.map((s) => s.writableCorked)).toEqual([1, 1]);
    await new Promise<void>((resolve) => process.nextTick(resolve));
    expect(sockets.map((s) => s.writableCorked)).toEqual([0, 0]);
    corkForTurn(server);
    expect(sockets[0]!.writableCorked).toBe(1);
    await new Promise<void>((resolve) => process.nextTick(resolve));
    expect(sockets[0]!.writableCorked).toBe(0);
  });

  it('does nothing for a socket that has none under it yet', () => {
    const unopened = new WebSocket('ws://127.0.0.1:1');
    unopened.on('error', () => {});
    expect(() => corkForTurn(unopened)).not.toThrow();
    unopened.terminate();
  });
});
