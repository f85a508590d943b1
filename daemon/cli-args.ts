import { homedir } from 'node:os';
import { join } from 'node:path';
import { checkRelayUrl } from '../web/relay-url.js';

export { checkRelayUrl };

/** Parsed daemon CLI flags; `undefined` means "not given" (env and the config file fill in). */
export interface DaemonCliArgs {
  relay?: string;
  apiKey?: string;
  identity: string;
  register: boolean;
  /** With --register: register anew even though a config exists (a new daemon id and key). */
  force: boolean;
  adminKey?: string;
  label?: string;
  echo: boolean;
  /** Origin of a local HTTP server to reverse-proxy every request to. */
  proxy?: string;
  /** Print a Quick Connect code (pairing) once connected. */
  quickConnect: boolean;
  /** Owner commands: run once and exit, without serving. */
  listDevices: boolean;
  revokeDevice?: string;
  rotateKey: boolean;
  help: boolean;
}

export type ParseResult = { ok: true; args: DaemonCliArgs } | { ok: false; error: string };

export const DAEMON_USAGE = `Usage: tsx daemon/cli.ts [options]

Connects a daemon to a Sideband relay. After --register, the daemon id and API key are saved
in a 0600 config file next to the identity, so later runs need no flags.

Options:
  --relay URL          relay base URL, http(s)           env SIDEBAND_RELAY
  --api-key KEY        daemon API key                    env SIDEBAND_API_KEY
  --identity PATH      identity file (created if absent) env SIDEBAND_IDENTITY
                       default ~/.sideband/identity.json
  --register           register this identity with the control plane (needs --admin-key);
                       refused when a config exists already (the daemon is registered)
  --force              with --register: register anew anyway (a new daemon id and API key
                       replace the saved ones; paired devices and clients of the old id stop)
  --admin-key KEY      relay admin key, for --register   env SIDEBAND_ADMIN_KEY
  --label NAME         label for --register
  --proxy URL          reverse-proxy to a local server   env SIDEBAND_PROXY
                       (an origin, e.g. http://127.0.0.1:3000)
  --echo               echo every raw session message back (transport test)
  --quick-connect      once connected, print a pairing code, its link and a QR code
  -h, --help           show this help

Owner commands (run once, print, exit; use the saved config or --relay/--api-key):
  --list-devices       list paired devices
  --revoke-device ID   revoke a device; its open session is closed at once
  --rotate-key         replace the API key (the old one stops working) and save it

Without --proxy or --echo the daemon serves a built-in demo app:
  GET /api/hello?name=x, POST /api/echo (streams the body back), GET /api/clock?n=5 (SSE).

Exit codes: 0 ok; 1 runtime failure (including an API key the relay no longer accepts);
2 bad flags, or --register of an identity that is registered already (add --force).`;

const VALUE_FLAGS = {
  '--relay': 'relay',
  '--api-key': 'apiKey',
  '--identity': 'identity',
  '--admin-key': 'adminKey',
  '--label': 'label',
  '--proxy': 'proxy',
  '--revoke-device': 'revokeDevice',
} as const;
const BOOLEAN_FLAGS = {
  '--register': 'register',
  '--force': 'force',
  '--echo': 'echo',
  '--quick-connect': 'quickConnect',
  '--list-devices': 'listDevices',
  '--rotate-key': 'rotateKey',
  '--help': 'help',
  '-h': 'help',
} as const;
type ValueFlag = keyof typeof VALUE_FLAGS;
type BooleanFlag = keyof typeof BOOLEAN_FLAGS;

const MAX_VALUE_LENGTH = 4096;

/**
 * Parses argv (without `node` and the script) with env fallbacks. Never throws and never
 * echoes a secret back: errors name the flag, not the value.
 *
 *   parseDaemonArgs(['--relay', 'http://127.0.0.1:8787', '--echo'], process.env)
 */
export function parseDaemonArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): ParseResult {
  const values: Partial<Record<(typeof VALUE_FLAGS)[ValueFlag], string>> = {};
  const flags = { register: false, force: false, echo: false, quickConnect: false, listDevices: false, rotateKey: false, help: false };
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (typeof arg !== 'string') return fail(`argument ${i + 1} is not a string`);
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (name in BOOLEAN_FLAGS) {
      if (eq > 0) return fail(`${name} takes no value`);
      if (seen.has(name)) return fail(`${name} given twice`);
      seen.add(name);
      flags[BOOLEAN_FLAGS[name as BooleanFlag]] = true;
      continue;
    }
    if (!(name in VALUE_FLAGS)) {
      return fail(arg.startsWith('-') ? `unknown option ${printable(name)}` : `unexpected argument ${printable(arg)}`);
    }
    if (seen.has(name)) return fail(`${name} given twice`);
    seen.add(name);
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (value === undefined || value.startsWith('--') || value in BOOLEAN_FLAGS) return fail(`${name} needs a value`);
      i++;
    }
    const problem = checkValue(value);
    if (problem) return fail(`${name} ${problem}`);
    values[VALUE_FLAGS[name as ValueFlag]] = value;
  }
  if (flags.help) return { ok: true, args: { identity: '', register: false, force: false, echo: false, quickConnect: false, listDevices: false, rotateKey: false, help: true } };

  const pick = (flag: (typeof VALUE_FLAGS)[ValueFlag], envName: string): string | undefined | { error: string } => {
    if (values[flag] !== undefined) return values[flag];
    const fromEnv = env[envName];
    if (fromEnv === undefined || fromEnv === '') return undefined;
    const problem = checkValue(fromEnv);
    return problem ? { error: `${envName} ${problem}` } : fromEnv;
  };
  const relay = pick('relay', 'SIDEBAND_RELAY');
  const apiKey = pick('apiKey', 'SIDEBAND_API_KEY');
  const identity = pick('identity', 'SIDEBAND_IDENTITY');
  const adminKey = pick('adminKey', 'SIDEBAND_ADMIN_KEY');
  const proxy = pick('proxy', 'SIDEBAND_PROXY');
  for (const v of [relay, apiKey, identity, adminKey, proxy]) if (typeof v === 'object') return fail(v.error);
  const label = values.label;

  if (typeof relay === 'string') {
    const problem = checkRelayUrl(relay);
    if (problem) return fail(problem);
  }
  for (const [flag, key] of [['--api-key', apiKey], ['--admin-key', adminKey]] as const) {
    if (typeof key === 'string' && !/^[\x21-\x7e]+$/.test(key)) return fail(`${flag} must be printable ASCII without spaces`);
  }
  if (label !== undefined && (label.length > 100 || !/^[^\p{C}]+$/u.test(label))) return fail('--label must be 1 to 100 printable characters');
  if (flags.register && !adminKey) return fail('--register needs --admin-key (or SIDEBAND_ADMIN_KEY)');
  if (!flags.register && values.adminKey !== undefined) return fail('--admin-key is only used with --register');
  if (flags.force && !flags.register) return fail('--force is only used with --register');
  if (label !== undefined && !flags.register) return fail('--label is only used with --register');
  const revokeDevice = values.revokeDevice;
  if (revokeDevice !== undefined && !/^[A-Za-z0-9_-]{1,128}$/.test(revokeDevice)) return fail('--revoke-device needs a device id (letters, digits, _ and -)');
  const commands = [flags.listDevices, revokeDevice !== undefined, flags.rotateKey].filter(Boolean).length;
  if (commands > 1) return fail('--list-devices, --revoke-device and --rotate-key are separate commands: give one');
  if (commands === 1 && (flags.echo || flags.quickConnect || values.proxy !== undefined)) {
    return fail('owner commands run once and exit: they do not combine with --echo, --proxy or --quick-connect');
  }
  if (flags.quickConnect && flags.echo) return fail('--quick-connect pairs a device for the HTTP daemon; it does not combine with --echo');
  if (typeof proxy === 'string') {
    const problem = checkProxyUrl(proxy);
    if (problem) return fail(problem);
    if (flags.echo) return fail('--proxy and --echo exclude each other');
  }

  return {
    ok: true,
    args: {
      relay: relay as string | undefined,
      apiKey: apiKey as string | undefined,
      identity: (identity as string | undefined) ?? join(homedir(), '.sideband', 'identity.json'),
      register: flags.register,
      force: flags.force,
      adminKey: adminKey as string | undefined,
      label,
      echo: flags.echo,
      proxy: proxy as string | undefined,
      quickConnect: flags.quickConnect,
      listDevices: flags.listDevices,
      revokeDevice,
      rotateKey: flags.rotateKey,
      help: false,
    },
  };
}

/** The reason a `--proxy` target is unusable, or undefined: an http(s) origin, nothing more. */
export function checkProxyUrl(proxy: string): string | undefined {
  let url: URL;
  try {
    url = new URL(proxy);
  } catch {
    return '--proxy must be a URL like http://127.0.0.1:3000';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return '--proxy must be an http:// or https:// URL';
  if (url.username || url.password) return '--proxy must not contain credentials';
  if (url.pathname !== '/' || url.search || url.hash) return '--proxy must be an origin only (no path, query or fragment)';
  return undefined;
}

function checkValue(value: string): string | undefined {
  if (value === '') return 'needs a non-empty value';
  if (value.length > MAX_VALUE_LENGTH) return `value is longer than ${MAX_VALUE_LENGTH} characters`;
  if (/\p{Cc}/u.test(value)) return 'value contains control characters';
  return undefined;
}

/** An argument safe to print in an error: control characters escaped, length capped. */
function printable(arg: string): string {
  const short = arg.length > 40 ? `${arg.slice(0, 40)}…` : arg;
  return JSON.stringify(short);
}

function fail(error: string): ParseResult {
  return { ok: false, error };
}
