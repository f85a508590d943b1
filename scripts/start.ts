/**
 * `npm start`: the whole product on one machine — a relay (SQLite state, Quick Connect on), a
 * demo daemon served through it, a self-check request through a real end-to-end session, and
 * how to reach it. State lives in `.data/` (or $SIDEBAND_DATA), so a restart keeps the daemon's
 * identity, registration and the control plane's records. Ctrl-C stops everything cleanly.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { startRelay } from '../relay/index.js';
import { listen } from '../daemon/listen.js';
import { demoApp } from '../daemon/demo-app.js';
import { loadOrCreateIdentity } from '../daemon/identity.js';
import { configPathFor, loadDaemonConfig, saveDaemonConfig } from '../daemon/daemon-config.js';
import { printQuickConnect } from '../daemon/quick-connect-cli.js';
import { connect } from '../client/connect.js';
import { FilePinStore } from '../client/pin-store.js';
import { controlPlaneTokens } from '../client/session-token-source.js';
import { ControlPlaneClient } from '../node/control-plane-client.js';
import { writeFileAtomic } from '../node/atomic-write.js';
import { toBase64Url } from '../protocol/bytes.js';

const dataDir = resolve(process.env.SIDEBAND_DATA ?? '.data');
const port = Number(process.env.PORT ?? 8787);
const out = (line = '') => process.stdout.write(`${line}\n`);

async function adminKey(): Promise<string> {
  const path = join(dataDir, 'admin-key');
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    const key = randomBytes(24).toString('base64url');
    await writeFileAtomic(path, `${key}\n`, { mode: 0o600 });
    return key;
  }
}

await mkdir(dataDir, { recursive: true, mode: 0o700 });
const admin = await adminKey();
const relay = await startRelay({ port, host: '127.0.0.1', adminKey: admin, dataDir: join(dataDir, 'relay'), quickConnect: true }).catch(
  (error: NodeJS.ErrnoException) => {
    if (error.code === 'EADDRINUSE') {
      process.stderr.write(`error: port ${port} is in use (another npm start?). Set PORT to use another one.\n`);
      process.exit(1);
    }
    throw error;
  },
);

// The demo daemon: identity and registration persist, so its id and pins stay valid across runs.
const identityPath = join(dataDir, 'daemon', 'identity.json');
const { identity } = await loadOrCreateIdentity(identityPath);
const configPath = configPathFor(identityPath);
let config = await loadDaemonConfig(configPath);
const known = config ? await relay.controlPlane.getDaemon(config.daemonId) : undefined;
if (config && known) {
  config = { ...config, relay: relay.url }; // same registration; the port may have changed
} else {
  const registered = await new ControlPlaneClient({ baseUrl: relay.url }).registerDaemon(admin, {
    identityPublicKey: toBase64Url(identity.publicKey),
    label: 'demo daemon',
  });
  config = { relay: relay.url, daemonId: registered.daemonId, apiKey: registered.apiKey };
  await saveDaemonConfig(configPath, config);
}
const daemon = await listen({ relay: relay.url, apiKey: config.apiKey, daemonId: config.daemonId, identity, fetch: demoApp() });

// Self-check through a real end-to-end session: relay, handshake, pin, inner stream, handler.
const pinsPath = join(dataDir, 'client', 'pins.json');
const client = connect({
  relay: relay.url,
  daemonId: config.daemonId,
  getToken: controlPlaneTokens({ baseUrl: relay.url, bearer: config.apiKey, daemonId: config.daemonId }),
  pinStore: new FilePinStore(pinsPath),
});
const check = await client.fetch('/api/hello?name=npm-start');
const body = await check.text();
await client.close();

out();
out(`relay         ${relay.url}   (state in ${join(dataDir, 'relay')})`);
out(`daemon        ${config.daemonId}`);
out(`fingerprint   ${daemon.fingerprint}`);
out(`self-check    GET /api/hello → ${check.status} ${body}`);
out();
out('Try it from another terminal (the daemon serves GET /api/hello, POST /api/echo, GET /api/clock):');
out(`  npx tsx client/fetch-cli.ts --relay ${relay.url} --daemon ${config.daemonId} \\`);
out(`    --api-key ${config.apiKey} --pins ${pinsPath} /api/clock?n=3`);
out();
out('Pair a device (the web app that opens this link is not built yet; the code works with the Node client):');
await printQuickConnect({ relay: relay.url, apiKey: config.apiKey, out }).catch((error: Error) => out(`  quick connect failed: ${error.message}`));
out();
out('Ctrl-C to stop.');

await new Promise<void>((resolvePromise) => {
  process.once('SIGINT', () => resolvePromise());
  process.once('SIGTERM', () => resolvePromise());
});
out('stopping…');
await daemon.shutdown({ timeoutMs: 3000 });
await relay.close();
process.exit(0);
