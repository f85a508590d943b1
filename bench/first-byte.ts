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
