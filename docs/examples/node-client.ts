import { connect, MemoryPinStore, controlPlaneTokens } from '../../client/index.js';

export async function nodeClient(relay: string, daemonId: string, apiKey: string) {
  const client = connect({
    relay, daemonId,
    getToken: controlPlaneTokens({ baseUrl: relay, bearer: apiKey, daemonId }), // or deviceTokenSource(...)
    pinStore: new MemoryPinStore(),                                // FilePinStore(path) keeps pins across runs
  });
  const files = await (await client.fetch('/api/files?dir=src')).json();  // WHATWG fetch semantics
  const term = await client.channel('/term');                      // send(), for await, close()
  await term.send('ls');
  for await (const line of term) { term.close(); return { files, echoed: line, client }; }
  throw new Error('the channel ended early');
}
