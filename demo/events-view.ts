import type { Sideband } from '../page/index.js';
import { byTestId, element, trimChildren } from './dom.js';
import { describe, ensureOk } from './failure.js';

/** Entries the log keeps (newest first); older ones are dropped. */
const MAX_EVENTS = 100;

/**
 * Daemon events as every tab receives them (`sideband.on('event')`), newest first, plus a form
 * that asks the daemon to broadcast a message (`POST /sideband/api/broadcast`), which then
 * arrives in this tab and every other one.
 */
export function mountEvents(sideband: Sideband): void {
  const log = byTestId('event-log');
  sideband.on('event', ({ name, data }) => {
    const item = element('li', '', { 'data-testid': 'event-item', 'data-name': name });
    const time = element('time', new Date().toTimeString().slice(0, 8)); // HH:MM:SS
    item.append(time, element('strong', name), element('code', JSON.stringify(data) ?? 'null'));
    log.prepend(item);
    trimChildren(log, MAX_EVENTS, 'last');
  });

  const form = byTestId<HTMLFormElement>('broadcast-form');
  const text = byTestId<HTMLInputElement>('broadcast-text');
  const error = byTestId('broadcast-error');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    try {
      await ensureOk(await fetch('/sideband/api/broadcast', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: text.value }) }));
    } catch (failure) {
      error.textContent = describe(failure);
    }
  });
}
