/**
 * The README's Node examples, run for real: a relay as docs/examples/relay.ts starts it, the
 * daemon of docs/examples/daemon.ts (a Hono app and a channel), and the Node client of
 * docs/examples/node-client.ts. docs/readme-snippets.test.ts keeps the README's copies equal
 * to these files.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { loadOrCreateIdentity } from '../daemon/identity.js';
import { ControlPlaneClient } from '../node/control-plane-client.js';
import { toBase64Url } from '../protocol/bytes.js';
import { startDaemon } from '../docs/examples/daemon.js';
import { nodeClient } from '../docs/examples/node-client.js';
import { relayForWebApp } from '../docs/examples/relay.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
});

it('relay, daemon and Node client examples work together', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sideband-readme-node-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const relay = await relayForWebApp('http://127.0.0.1:5173', join(dir, 'relay'));
  cleanup.push(() => relay.close());
  const identityPath = join(dir, 'identity.json');
  const { identity } = await loadOrCreateIdentity(identityPath);
  const { daemonId, apiKey } = await new ControlPlaneClient({ baseUrl: relay.url }).registerDaemon(relay.adminKey, { identityPublicKey: toBase64Url(identity.publicKey) });
  const daemon = await startDaemon(relay.url, apiKey, identityPath);
  cleanup.push(() => daemon.shutdown({ timeoutMs: 1000 }));
  const { files, echoed, client } = await nodeClient(relay.url, daemonId, apiKey);
  cleanup.push(() => client.close());
  expect(files).toEqual({ dir: 'src', files: ['README.md', 'src/'] });
  expect(echoed).toBe('ls');
});
