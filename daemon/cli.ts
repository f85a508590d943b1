#!/usr/bin/env node
import { pathToFileURL } from 'node:url';
import { toBase64Url } from '../protocol/bytes.js';
import { ControlPlaneClient } from '../node/control-plane-client.js';
import { errorCode } from '../web/errors.js';
import { parseDaemonArgs, DAEMON_USAGE } from './cli-args.js';
import { connectDaemon } from './connect-daemon.js';
import type { DaemonConnection } from './daemon-types.js';
import { configPathFor, followRotatedKey, loadDaemonConfig, saveDaemonConfig, type DaemonConfig } from './daemon-config.js';
import { loadOrCreateIdentity } from './identity.js';
import { printDevices, printQuickConnect, printRevokeDevice, rotateApiKeyAndSave } from './quick-connect-cli.js';
import { demoApp } from './demo-app.js';
import { listen } from './listen.js';
import type { Listener } from './listen-types.js';
import { reverseProxy } from './reverse-proxy.js';
import { logSessions } from './session-log.js';

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Resolves when the process should stop (SIGINT/SIGTERM). */
  stopped: Promise<void>;
  /** Whether `out` is a terminal: the Quick Connect QR code is drawn only then (no escapes in pipes and files). */
  isTTY?: boolean;
}

/**
 * The daemon CLI: identity, optional registration, then one relay connection until stopped,
 * serving the demo app, a reverse proxy (`--proxy`) or a raw echo (`--echo`).
 * Returns the exit code (0 ok, 1 runtime failure, 2 bad flags or --register of a registered
 * identity without --force).
 *
 *   tsx daemon/cli.ts --relay http://127.0.0.1:8787 --register --admin-key KEY --proxy http://127.0.0.1:3000
 */
export async function runDaemonCli(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, io: CliIo): Promise<number> {
  const parsed = parseDaemonArgs(argv, env);
  if (!parsed.ok) {
    io.err(`error: ${parsed.error}`);
    io.err('Run with --help for usage.');
    return 2;
  }
  const args = parsed.args;
  if (args.help) {
    io.out(DAEMON_USAGE);
    return 0;
  }

  let daemon: DaemonConnection | Listener | undefined;
  try {
    const { identity, created } = await loadOrCreateIdentity(args.identity);
    io.out(`identity ${created ? 'created' : 'loaded'}: ${args.identity}`);
    io.out(`fingerprint ${identity.fingerprint}`);

    const configPath = configPathFor(args.identity);
    let config: DaemonConfig | undefined = await loadDaemonConfig(configPath);
    if (args.register) {
      if (config && !args.force) {
        // A second registration makes a new daemon id: devices, pins and links of this one would stop working.
        return usageError(
          io,
          `this identity is registered already as daemon ${config.daemonId} (${configPath}); run without --register to use it, ` +
            'or add --force to register anew (a new daemon id and API key; devices paired with the old id must pair again)',
        );
      }
      const relay = args.relay ?? config?.relay;
      if (!relay) return usageError(io, '--register needs --relay (or SIDEBAND_RELAY)');
      const registered = await new ControlPlaneClient({ baseUrl: relay }).registerDaemon(args.adminKey!, {
        identityPublicKey: toBase64Url(identity.publicKey),
        ...(args.label !== undefined ? { label: args.label } : {}),
      });
      config = { relay, daemonId: registered.daemonId, apiKey: registered.apiKey };
      await saveDaemonConfig(configPath, config);
      io.out(`registered daemon ${registered.daemonId}; relay, daemon id and API key saved to ${configPath} (0600)`);
      io.out(`next time, start it with: npm run daemon -- --identity ${shellQuote(args.identity)}`);
    }

    const relay = args.relay ?? config?.relay;
    const apiKey = args.apiKey ?? config?.apiKey;
    if (!relay) return usageError(io, 'no relay: pass --relay, set SIDEBAND_RELAY, or --register first');
    if (!apiKey) return usageError(io, 'no API key: pass --api-key, set SIDEBAND_API_KEY, or --register first');
    if (config?.daemonId) io.out(`daemon id ${config.daemonId}`);

    // The saved id guards against a key for another daemon, but only when the key is the saved one.
    const daemonId = apiKey === config?.apiKey ? config.daemonId : undefined;
    const owner = { relay, apiKey, out: io.out };
    // After --rotate-key from another shell the relay refuses the old key at the next reconnect:
    // a key from the config follows the config once; otherwise say so and stop (exit 1).
    const fromConfig = args.apiKey === undefined;
    let keyRefused!: () => void;
    const refused = new Promise<'refused'>((resolve) => (keyRefused = () => resolve('refused')));
    const keys = followRotatedKey({
      apiKey,
      configPath: fromConfig ? configPath : undefined,
      onRotated: () => io.out(`the API key was rotated; using the new key from ${configPath}`),
      onRefused: keyRefused,
    });
    if (args.listDevices) {
      await printDevices(owner);
      return 0;
    }
    if (args.revokeDevice !== undefined) {
      await printRevokeDevice({ ...owner, deviceId: args.revokeDevice });
      return 0;
    }
    if (args.rotateKey) {
      if (!config?.daemonId) return usageError(io, '--rotate-key needs the saved config of a registered daemon (run --register first)');
      await rotateApiKeyAndSave({ ...owner, daemonId: config.daemonId, configPath });
      return 0;
    }
    let server: Listener | undefined;
    if (args.echo) {
      const d = connectDaemon({ relay, apiKey, identity, daemonId, fetch: keys.fetch });
      daemon = d;
      d.onMessage((sessionId, data) => {
        try {
          d.send(sessionId, data);
        } catch (error) {
          io.err(`echo to session ${sessionId.toString(16)} failed: ${errorCode(error) ?? (error as Error).message}`);
        }
      });
      io.out('mode: echo (raw session messages)');
    } else {
      server = await listen({
        relay,
        apiKey,
        identity,
        daemonId,
        fetch: args.proxy ? reverseProxy(args.proxy) : demoApp(),
        controlPlaneFetch: keys.fetch,
        waitUntilConnected: false,
      });
      daemon = server;
      io.out(args.proxy ? `mode: reverse proxy to ${args.proxy}` : 'mode: demo app (GET /api/hello, POST /api/echo, GET /api/clock)');
      server.on('handler_error', ({ error, sessionId }) => io.err(`handler failed in session ${sessionId.toString(16)}: ${errorCode(error) ?? (error as Error).message}`));
    }
    // Both modes are a connection with the same events; only what serves the sessions differs.
    const d: Pick<DaemonConnection, 'on' | 'close' | 'daemonId'> = daemon;
    let paired = false;
    d.on('state', ({ state, error }) => {
      if (state === 'connected') io.out(`connected to ${relay} as daemon ${d.daemonId}`);
      else if (errorCode(error) === 'daemon_replaced') {
        io.err('another process with this daemon identity took over the relay connection; this one waits 30 s and tries again. Run one daemon per identity (stop the other, or give this one its own --identity and --register it).');
      } else io.err(`${state}${error ? `: ${errorCode(error) ?? ''} ${error.message}` : ''}`);
      // A code redeemed while the daemon is offline is burned (409): print it only once connected.
      if (state === 'connected' && args.quickConnect && !paired) {
        paired = true;
        printQuickConnect({ ...owner, apiKey: keys.apiKey(), fetch: keys.fetch, qr: io.isTTY === true }).catch((e: unknown) => io.err(`quick connect failed: ${errorCode(e) ?? ''} ${(e as Error).message}`));
      }
    });
    const stopSessionLog = logSessions(d, io.out);

    const outcome = await Promise.race([
      io.stopped.then(() => 'stopped' as const),
      new Promise<'failed'>((resolve) => d.on('state', ({ state }) => state === 'closed' && resolve('failed'))),
      refused,
    ]);
    if (outcome === 'refused') {
      io.err(
        `error: unauthorized: the relay no longer accepts this daemon's API key (rotated with --rotate-key, or the daemon was removed). ` +
          (fromConfig
            ? `${configPath} holds no newer key; put the current key there or pass it with --api-key.`
            : `Restart with the new key: leave out --api-key and SIDEBAND_API_KEY to use the one --rotate-key saved in ${configPath}.`),
      );
    }
    // SIGINT/SIGTERM: let requests in flight finish (GOAWAY first), briefly.
    if (server && outcome === 'stopped') await server.shutdown({ timeoutMs: 5_000 });
    stopSessionLog();
    await d.close();
    return outcome === 'stopped' ? 0 : 1;
  } catch (error) {
    io.err(`error: ${errorCode(error) ? `${errorCode(error)}: ` : ''}${(error as Error).message}`);
    await daemon?.close();
    return 1;
  }
}

/** A path as a POSIX shell word, for a command the user copies. */
function shellQuote(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

function usageError(io: CliIo, message: string): number {
  io.err(`error: ${message}`);
  io.err('Run with --help for usage.');
  return 2;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  const code = await runDaemonCli(process.argv.slice(2), process.env, {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    stopped,
    isTTY: process.stdout.isTTY === true,
  });
  process.exit(code);
}
