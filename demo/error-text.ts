/**
 * What to tell the user for a stable code (README "Pairing": clients map the code, never the
 * message). Codes not listed here are shown as they are.
 */
const TEXT: Readonly<Record<string, string>> = {
  code_not_found: 'That code does not exist or was already used. Get a new code.',
  code_expired: 'That code has expired (codes live at most 5 minutes). Get a new code.',
  daemon_offline: 'The daemon is not running or not connected to the relay.',
  too_many_devices: 'The daemon has 100 paired devices. Revoke one, then get a new code.',
  rate_limited: 'Too many codes in the last minute. Wait a little, then get a new code.',
  quick_connect_disabled: 'This relay does not allow pairing (started without --quick-connect).',
  device_revoked: 'This browser is no longer paired. Pair it again.',
  device_not_found: 'This browser is no longer paired. Pair it again.',
  invalid_request: 'That does not look like a Quick Connect code.',
  relay_unreachable: 'The relay cannot be reached.',
  connection_failed: 'The relay cannot be reached.',
  session_expired: 'The daemon went away for too long; reconnecting.',
  worker_not_active: 'The service worker does not control this page yet: reload it.',
  not_controlled: 'The service worker does not control this page yet: reload it.',
  unsupported: 'This browser cannot run the Sideband service worker here (is this a secure context?).',
};

export function explain(code: string | undefined): string {
  if (!code) return '';
  return TEXT[code] ?? code;
}
