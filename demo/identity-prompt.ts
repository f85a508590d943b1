import type { Sideband } from '../page/index.js';
import type { SidebandStatus } from '../sw/messages.js';
import { byTestId } from './dom.js';
import { describe } from './failure.js';

/**
 * The key-change prompt: in `identity-changed` the daemon presents another identity key than
 * the pinned one. Both fingerprints are shown; only an explicit click approves the new one.
 */
export function mountIdentityPrompt(sideband: Sideband): (status: SidebandStatus) => void {
  const prompt = byTestId('identity-prompt');
  const approve = byTestId<HTMLButtonElement>('approve');
  const error = byTestId('approve-error');
  let offered: string | undefined;

  approve.addEventListener('click', async () => {
    if (!offered) return;
    approve.disabled = true;
    error.textContent = '';
    try {
      await sideband.trust.approve(offered);
    } catch (failure) {
      error.textContent = describe(failure);
    } finally {
      approve.disabled = false;
    }
  });

  return (status) => {
    prompt.hidden = status.state !== 'identity-changed';
    offered = status.state === 'identity-changed' ? status.offeredFingerprint : undefined;
    byTestId('pinned-fingerprint').textContent = status.fingerprint ?? '';
    byTestId('offered-fingerprint').textContent = status.offeredFingerprint ?? '';
  };
}
