/**
 * `npm start`: the whole product on one machine — a relay (SQLite state, Quick Connect on), a
 * demo daemon served through it, the demo web app on its own origin (built now, served with the
 * relay URL injected, paired automatically in this dev mode), a self-check request through a
 * real end-to-end session, and how to reach it all.
 *
 * State lives in `.data/` (or $SIDEBAND_DATA), so a restart keeps the daemon's identity,
 * registration and the control plane's records. Secrets stay in files there (0600) and are
 * never printed. Ports: PORT (relay, default 8787), WEB_PORT (web app, default 5173); 0 picks
 * a free one. The web app is built into dist/web (or $SIDEBAND_WEB_DIR). Ctrl-C stops everything.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join, relative, resolve } from 'node:path';
import { startRelay } from '../relay/index.js';
import { listen } from '../daemon/listen.js';
import type { Listener } from '../daemon/listen-types.js';
import { demoApp, demoChannels, type Publish } from '../daemon/demo-app.js';
import { loadOrCreateIdentity } from '../daemon/identity.js';
import { configPathFor, loadDaemonConfig, saveDaemonConfig } from '../daemon/daemon-config.js';
import { createQuickConnect } from '../daemon/quick-connect.js';
import { printQuickConnect } from '../daemon/quick-connect-cli.js';
import { connect } from '../client/connect.js';
import { FilePinStore } from '../client/pin-store.js';
import { controlPlaneTokens } from '../client/session-token-source.js';
import { ControlPlaneClient } from '../node/control-plane-client.js';
import { writeFileAtomic } from '../node/atomic-write.js';
import { toBase64Url } from '../protocol/bytes.js';
import { startWebServer } from '../demo/server.js';
import { buildWeb } from './build-web.js';

const out = (line = '') => process.stdout.write(`${line}\n`);
const fail = (message: string, exitCode = 1): never => {
  process.stderr.write(`error: ${message}\n`);
  process.exit(exitCode);
};

const dataDir = resolve(process.env.SIDEBAND_DATA ?? '.data');
const webDir = resolve(process.env.SIDEBAND_WEB_DIR ?? 'dist/web');
const port = portFrom('PORT', 8787);
const webPort = portFrom('WEB_PORT', 5173);
const host = '127.0.0.1';

function portFrom(name: string, fallback: number): number {
  const value = process.env[name] ?? String(fallback);
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65_535) return fail(`${name} must be a port number (0–65535), not ${JSON.stringify(value)}`, 2);
  return Number(value);
}

const inUse = (variable: string, value: number) => (error: NodeJS.ErrnoException) => {
  if (error.code === 'EADDRINUSE') fail(`port ${value} is in use (another npm start?). Set ${variable} to use another one.`);
  throw error;
};

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

/** A path as the user would type it from here: relative inside the working directory. */
const shown = (path: string) => (relative(process.cwd(), path).startsWith('..') ? path : relative(process.cwd(), path) || '.');
const shellQuote = (text: string) => (/^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`);

await mkdir(dataDir, { recursive: true, mode: 0o700 });
const admin = await adminKey();

await buildWeb(webDir).catch((error: Error) => fail(`building the web app failed: ${error.message}`));

// The web server comes first: its origin is what the relay must allow (WebSocket Origin check
// and CORS for pairing) and where pairing links point. It learns the relay URL right after.
let relayUrl = '';
let daemonApiKey = '';
const web = await startWebServer({
  port: webPort,
  host,
  root: webDir,
  relayUrl: () => relayUrl,
  // Dev mode: a browser that needs pairing asks for a fresh code and pairs by itself.
  devPairCode: async () => (await createQuickConnect({ relay: relayUrl, apiKey: daemonApiKey, ttlSeconds: 60 })).code,
}).catch(inUse('WEB_PORT', webPort));
const webPortBound = new URL(web.url).port;

const relay = await startRelay({
  port,
  host,
  adminKey: admin,
  dataDir: join(dataDir, 'relay'),
  quickConnect: true,
  allowedOrigins: [web.url, `http://localhost:${webPortBound}`],
  webAppUrl: web.url,
}).catch(inUse('PORT', port));
relayUrl = relay.url;

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
daemonApiKey = config.apiKey;
// Requests may arrive before listen() resolves (a paired tab reconnects at once): publish late-bound.
const running: { daemon?: Listener } = {};
const publish: Publish = (name, data) => running.daemon?.publish(name, data) ?? 0;
const daemon = await listen({
  relay: relay.url,
  apiKey: config.apiKey,
  daemonId: config.daemonId,
  identity,
  fetch: demoApp({ publish }),
  onChannel: demoChannels({ publish }),
});
running.daemon = daemon;

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
out(`relay  ${relay.url}`);
out(`web  ${web.url}`);
out();
out(`daemon        ${config.daemonId}`);
out(`fingerprint   ${daemon.fingerprint}`);
out(`self-check    GET /api/hello → ${check.status} ${body}`);
out(`state         ${shown(dataDir)}/ (relay database, daemon identity); secrets stay in files there, never printed:`);
out(`                daemon API key in ${shown(configPath)}, relay admin key in ${shown(join(dataDir, 'admin-key'))}`);
out();
out(`Open ${web.url} in a browser: in this dev mode it pairs by itself, then shows status, a streamed`);
out('agent answer, files, a large download, a terminal channel and daemon events (open two tabs).');
out();
out('Or use the Node client from another terminal (it reads the API key from its file):');
out(`  SIDEBAND_API_KEY="$(node -p 'require(process.argv[1]).apiKey' ${shellQuote(configPath)})" \\`);
out(`    npx tsx client/fetch-cli.ts --relay ${relay.url} --daemon ${config.daemonId} --pins ${shellQuote(pinsPath)} '/api/clock?n=3'`);
out('  (the daemon serves /api/hello, /api/echo, /api/clock, /api/agent, /api/files, /api/download?mb=N, /api/upload)');
out();
out('Pair another browser or device (the link opens the web app):');
await printQuickConnect({ relay: relay.url, apiKey: config.apiKey, out }).catch((error: Error) => out(`  quick connect failed: ${error.message}`));
out();
out('Ctrl-C to stop.');

await new Promise<void>((resolvePromise) => {
  process.once('SIGINT', () => resolvePromise());
  process.once('SIGTERM', () => resolvePromise());
});
out('stopping…');
await web.close();
await daemon.shutdown({ timeoutMs: 3000 });
await relay.close();
process.exit(0);
