import { openWebSocket } from './open-web-socket.js';

/** The client side of a cold-start sample: what a new client takes from creation to the first response byte. */
export interface ColdClient {
  fetch(path: string): Promise<Response>;
  close(): Promise<void>;
}

/** Milliseconds from `open()` (a new client: token, connect, handshake) to the first byte of GET `path`. */
export async function firstByteMs(open: () => ColdClient, path = '/small'): Promise<number> {
  const start = performance.now();
  const client = open();
  try {
    const res = await client.fetch(path);
    const reader = res.body!.getReader();
    await reader.read();
    const ms = performance.now() - start;
    await reader.cancel();
    return ms;
  } finally {
    await client.close();
  }
}

/**
 * The cold-start baseline: milliseconds from a fresh WebSocket connect to `url` (the bare
 * forwarder) to the first answer of one JSON request `{id, method, path}` through it.
 */
export async function wsFirstByteMs(url: string, path = '/small'): Promise<number> {
  const start = performance.now();
  const ws = await openWebSocket(url);
  const answered = new Promise<void>((resolve) => ws.once('message', () => resolve()));
  ws.send(JSON.stringify({ id: 1, method: 'GET', path }));
  await answered;
  const ms = performance.now() - start;
  ws.close();
  return ms;
}
