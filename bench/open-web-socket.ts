import { WebSocket } from 'ws';

/** A WebSocket to `url` once open; rejects with its error if it fails before that. */
export async function openWebSocket(url: string): Promise<WebSocket> {
  const socket = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return socket;
}
