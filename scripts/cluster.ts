/**
 * `npm run cluster`: several relay nodes on one machine, coordinated through a private
 * redis-server (issue 10: no docker compose needed). Node 0 is the control-plane writer (its
 * SQLite store in a temp directory, removed on exit); the others verify tokens against its JWKS
 * and forward the control-plane API to it. Prints every URL, then runs until Ctrl-C, which stops
 * every process it started (and only those).
 *
 *   npm run cluster -- --nodes 3 --port-base 8787
 *   npm run cluster -- --port-base 0 -- --quick-connect     (after `--`: flags for every relay)
 */
import { randomBytes } from 'node:crypto';
import { startCluster, type Cluster } from '../relay/testing/cluster.js';
import { redisServerAvailable, startRedisServer, type RedisServer } from '../relay/testing/redis-server.js';

const USAGE = `Usage: npm run cluster -- [--nodes <n>] [--port-base <port>] [-- <relay flags>]

Starts a private redis-server and <n> relay nodes (default 3) on ports <port>, <port>+1, …
(default 8787; 0 picks free ports). Relay flags after \`--\` go to every node, e.g. --quick-connect.
The admin key is SIDEBAND_ADMIN_KEY when set, else generated and printed once. Ctrl-C stops all.
`;

const out = (line = ''): void => void process.stdout.write(`${line}\n`);
const usageError = (message: string): never => {
  process.stderr.write(`cluster: ${message}\n${USAGE}`);
  process.exit(2);
};

function parseArgs(argv: readonly string[]): { nodes: number; portBase: number; relayArgs: string[] } {
  const split = argv.indexOf('--');
  const own = split === -1 ? argv : argv.slice(0, split);
  const relayArgs = split === -1 ? [] : argv.slice(split + 1);
  let nodes = 3;
  let portBase = 8787;
  for (let i = 0; i < own.length; i++) {
    const flag = own[i]!;
    if (flag === '--help') {
      process.stdout.write(USAGE);
      process.exit(0);
    }
    const value = own[++i];
    if (flag === '--nodes') {
      if (!/^\d{1,2}$/.test(value ?? '') || Number(value) < 1 || Number(value) > 16) usageError('--nodes must be 1..16');
      nodes = Number(value);
    } else if (flag === '--port-base') {
      if (!/^\d{1,5}$/.test(value ?? '') || Number(value) > 65_535) usageError('--port-base must be a port number (0 for free ports)');
      portBase = Number(value);
    } else usageError(`unknown option ${JSON.stringify(flag)}`);
  }
  if (portBase !== 0 && portBase + nodes - 1 > 65_535) usageError('--port-base leaves no room for every node');
  return { nodes, portBase, relayArgs };
}

const { nodes, portBase, relayArgs } = parseArgs(process.argv.slice(2));
const available = redisServerAvailable();
if (!available.ok) {
  process.stderr.write(`cluster: ${available.reason}\n`);
  process.exit(1);
}

const givenKey = process.env.SIDEBAND_ADMIN_KEY;
const adminKey = givenKey || randomBytes(24).toString('base64url');
let redis: RedisServer | undefined;
let cluster: Cluster | undefined;
let stopping: Promise<void> | undefined;
const stop = (): Promise<void> => {
  stopping ??= (async () => {
    await cluster?.stop();
    await redis?.stop();
  })();
  return stopping;
};
// Ctrl-C in a terminal reaches the children too; either way stop() waits for every one of them.
process.once('SIGINT', () => void stop().then(() => process.exit(0)));
process.once('SIGTERM', () => void stop().then(() => process.exit(0)));

try {
  redis = await startRedisServer();
  cluster = await startCluster({ nodes, redis: redis.url, portBase: portBase === 0 ? undefined : portBase, timers: {}, relayArgs, adminKey });
} catch (error) {
  process.stderr.write(`cluster: failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  await stop();
  process.exit(1);
}

out(`redis   ${redis.url}  (private redis-server ${available.version}, pid ${redis.pid}, nothing persisted)`);
for (const node of cluster.nodes) {
  out(`node ${node.nodeId}  ${node.url}  pid ${node.pid}${node.isWriter ? '  control-plane writer' : ''}`);
}
if (givenKey) out('admin key  from SIDEBAND_ADMIN_KEY');
else out(`admin key  ${adminKey}  (generated, shown once)`);
out('Clients and daemons may use any node; register daemons with the admin key on any node.');
out('Ctrl-C to stop.');
