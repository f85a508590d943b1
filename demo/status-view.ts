import type { SidebandStatus } from '../sw/messages.js';
import { byTestId } from './dom.js';
import { explain } from './error-text.js';

/** States in which the daemon cannot be reached and the banner says so. */
const UNREACHABLE = new Set(['paused', 'reconnecting', 'offline']);

/**
 * The status line, the "daemon not reachable" banner and `<body data-state>` (which the CSS
 * uses to dim what cannot work). Every tab renders the worker's broadcast the same way.
 */
export function renderStatus(status: SidebandStatus): void {
  document.body.dataset.state = status.state;
  byTestId('state').textContent = status.state;
  byTestId('code').textContent = status.code ?? '';
  byTestId('daemon-id').textContent = status.daemonId ?? '';
  byTestId('fingerprint').textContent = status.fingerprint ?? '';
  byTestId('aead').textContent = status.aead;
  byTestId('message').textContent = status.message ?? '';

  const banner = byTestId('offline-banner');
  banner.hidden = !UNREACHABLE.has(status.state);
  if (banner.hidden) return;
  byTestId('offline-title').textContent = status.state === 'paused' ? 'The daemon dropped out; waiting for it to come back.' : 'The daemon is not reachable.';
  const retry = status.retryInMs === undefined ? '' : ` Retrying in ${Math.ceil(status.retryInMs / 1000)} s.`;
  byTestId('offline-detail').textContent = `${explain(status.code)}${retry}`;
  byTestId('offline-code').textContent = status.code ?? '';
}

/** registerSideband() itself failed: nothing else on the page can work, say why. */
export function renderUnavailable(code: string, message: string): void {
  document.body.dataset.state = 'unavailable';
  byTestId('state').textContent = 'unavailable';
  byTestId('code').textContent = code;
  byTestId('message').textContent = `${explain(code)} (${message})`;
}
