import QRCode from 'qrcode';
import { saveDaemonConfig, type DaemonConfig } from './daemon-config.js';
import { createQuickConnect, listDevices, revokeDevice, rotateApiKey, type OwnerCallOptions, type QuickConnectCode } from './quick-connect.js';

/**
 * What the daemon CLI prints for the owner's pairing commands. Each function takes the SDK call
 * options plus `out` (one line per call) and returns what it printed about, so the CLI stays a
 * thin adapter (style.md 2). Errors are the SDK's `ControlPlaneError`s, unchanged.
 */
export interface PrintOptions {
  out: (line: string) => void;
}

/**
 * Creates a Quick Connect code and prints it, the web-app link, and the link as a terminal QR
 * code (for a phone camera).
 *
 *   await printQuickConnect({ relay, apiKey, ttlSeconds: 300, out: console.log });
 */
export async function printQuickConnect(options: OwnerCallOptions & PrintOptions & { ttlSeconds?: number; qr?: boolean; now?: () => number }): Promise<QuickConnectCode> {
  const created = await createQuickConnect(options);
  // What was asked for; otherwise the server's expiry, rounded so clock and latency jitter do not show.
  const seconds = options.ttlSeconds ?? Math.max(0, Math.round((created.expiresAt - (options.now ?? Date.now)() / 1000) / 10) * 10);
  const { out } = options;
  out('Quick Connect code (single use, valid for ' + describeSeconds(seconds) + '):');
  out('');
  out(`    ${created.code}`);
  out('');
  out(`Open this link on the device to pair, or type the code in the app:`);
  out(`    ${created.link}`);
  if (options.qr !== false) {
    out('');
    for (const line of (await renderQr(created.link)).replace(/\n+$/, '').split('\n')) out(line);
  }
  return created;
}

/** The link as a compact QR code of terminal block characters. */
export function renderQr(text: string): Promise<string> {
  return QRCode.toString(text, { type: 'terminal', small: true });
}

/** Prints the paired devices as a table; returns them. */
export async function printDevices(options: OwnerCallOptions & PrintOptions) {
  const devices = await listDevices(options);
  if (devices.length === 0) {
    options.out('No paired devices. Pair one with a Quick Connect code.');
    return devices;
  }
  options.out(['DEVICE ID'.padEnd(36), 'STATUS '.padEnd(8), 'PAIRED'.padEnd(20), 'LAST SEEN'.padEnd(20), 'LABEL'].join(' '));
  for (const d of devices) {
    options.out([
      d.deviceId.padEnd(36),
      (d.revoked ? 'revoked' : 'active').padEnd(8),
      time(d.createdAt).padEnd(20),
      (d.lastSeenAt === null ? 'never' : time(d.lastSeenAt)).padEnd(20),
      printable(d.label),
    ].join(' '));
  }
  return devices;
}

/** Revokes one device and says what that does. */
export async function printRevokeDevice(options: OwnerCallOptions & PrintOptions & { deviceId: string }): Promise<void> {
  await revokeDevice(options);
  options.out(`Revoked ${printable(options.deviceId)}: its open session was closed and it can get no new token. Pair it again to restore access.`);
}

/**
 * Rotates the API key and saves the new one in the daemon config (0600) before printing, so
 * the only copy of a working key is never just on screen. Returns the new config.
 */
export async function rotateApiKeyAndSave(options: OwnerCallOptions & PrintOptions & { daemonId: string; configPath: string }): Promise<DaemonConfig> {
  const { apiKey } = await rotateApiKey(options);
  const config: DaemonConfig = { relay: options.relay, daemonId: options.daemonId, apiKey };
  await saveDaemonConfig(options.configPath, config);
  options.out(`API key rotated; the old key no longer works. The new key is saved in ${options.configPath}.`);
  return config;
}

function describeSeconds(seconds: number): string {
  if (seconds % 60 === 0 && seconds >= 60) return `${seconds / 60} min`;
  return seconds >= 60 ? `${Math.floor(seconds / 60)} min ${seconds % 60} s` : `${seconds} s`;
}

function time(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().slice(0, 19).replace('T', ' ');
}

/** Labels come from devices: never let one drive the owner's terminal. */
function printable(text: string): string {
  return [...text].map((c) => (c.charCodeAt(0) < 0x20 || (c.charCodeAt(0) >= 0x7f && c.charCodeAt(0) <= 0x9f) ? '?' : c)).join('');
}
