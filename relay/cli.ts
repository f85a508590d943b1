#!/usr/bin/env node
import { loadOrCreateAdminKey } from './admin-key-file.js';
import { CliUsageError, parseRelayArgs, USAGE } from './cli-args.js';
import { jsonLineLogger } from './logger.js';
import { startRelay } from './relay-server.js';

/** `tsx relay/cli.ts --help`. Exit codes: 0 ok, 1 failed to start, 2 bad flag or value. */
async function main(): Promise<number> {
  let command;
  try {
    command = parseRelayArgs(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof CliUsageError)) throw error;
    process.stderr.write(`relay: ${error.message}\nTry --help.\n`);
    return error.exitCode;
  }
  if (command.kind === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const options = command.options;
  const logger = jsonLineLogger(process.stderr, options.debug ?? false);
  // With a data directory the admin key lives beside the state it guards, so a restart keeps it.
  const keyFile = options.adminKey === undefined && options.dataDir !== undefined ? await loadOrCreateAdminKey(options.dataDir) : undefined;
  const relay = await startRelay({ ...options, ...(keyFile && { adminKey: keyFile.key }), logger });
  if (options.dataDir === undefined) {
    process.stderr.write('relay: warning: no --data-dir: daemons, devices and signing keys live in memory and will not survive a restart\n');
  }
  // Keys go to stdout only, once, never to the log: the operator copies it from here.
  if (keyFile?.created) {
    process.stdout.write(`Generated admin key (shown once, saved to ${keyFile.path}): ${keyFile.key}\n`);
  } else if (keyFile) {
    process.stdout.write(`Admin key: read from ${keyFile.path}\n`);
  } else if (options.adminKey === undefined) {
    process.stdout.write(`Generated admin key (shown once): ${relay.adminKey}\n`);
    process.stderr.write('relay: warning: the generated admin key changes on every restart; set SIDEBAND_ADMIN_KEY or use --data-dir to keep it\n');
  }
  process.stdout.write(`Relay listening on ${relay.url} (WebSocket ${relay.wsUrl})\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await relay.close();
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`relay: failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
