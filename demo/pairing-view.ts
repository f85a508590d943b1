import type { Sideband } from '../page/index.js';
import type { SidebandStatus } from '../sw/messages.js';
import { byTestId } from './dom.js';
import { explain } from './error-text.js';
import { codeOf } from './failure.js';

export interface Pairing {
  /** Pairs with `code` (typed, from a link, or from dev mode); one pairing at a time. */
  pair(code: string, how: string): Promise<boolean>;
  /** Re-renders for a new status. */
  update(status: SidebandStatus): void;
}

/**
 * The pairing form, shown while the worker is in `needs-pairing` (and while a pairing it
 * started is in flight or just failed, so the outcome stays visible).
 */
export function mountPairing(sideband: Sideband): Pairing {
  const section = byTestId('pairing');
  const form = byTestId<HTMLFormElement>('pair-form');
  const input = byTestId<HTMLInputElement>('pair-code');
  const submit = byTestId<HTMLButtonElement>('pair-submit');
  const state = byTestId('pair-state');
  const error = byTestId('pair-error');
  let busy: Promise<boolean> | undefined;

  const label = `demo web app (${browserName()})`;
  const pair = (code: string, how: string): Promise<boolean> =>
    (busy ??= (async () => {
      submit.disabled = true;
      section.hidden = false;
      state.textContent = `pairing (${how})…`;
      error.textContent = '';
      try {
        await sideband.pair(code, { label });
        state.textContent = 'paired';
        input.value = '';
        return true;
      } catch (failure) {
        state.textContent = 'pairing failed:';
        error.textContent = explain(codeOf(failure));
        error.dataset.code = codeOf(failure);
        return false;
      } finally {
        submit.disabled = false;
        busy = undefined;
      }
    })());

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (input.value.trim()) void pair(input.value, 'typed');
  });

  return {
    pair,
    update(status) {
      section.hidden = status.state !== 'needs-pairing' && !busy && !error.textContent;
      if (status.state === 'active') error.textContent = '';
    },
  };
}

function browserName(): string {
  const ua = navigator.userAgent;
  if (/Firefox\//.test(ua)) return 'Firefox';
  if (/Edg\//.test(ua)) return 'Edge';
  if (/Chrom(e|ium)\//.test(ua)) return 'Chromium';
  if (/Safari\//.test(ua)) return 'Safari';
  return 'browser';
}
