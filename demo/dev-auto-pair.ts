import type { SidebandStatus } from '../sw/messages.js';
import type { Pairing } from './pairing-view.js';

/** Automatic attempts per page load: a dev server that keeps handing out bad codes must not cause a loop. */
const MAX_ATTEMPTS = 3;

/**
 * Dev mode (`npm start`): the web server answers `GET /dev/pair-code` with a fresh Quick
 * Connect code, so a browser in `needs-pairing` pairs by itself. Anywhere else the route is
 * 404 and nothing happens. Tabs take a Web Lock and re-check the state, so several tabs
 * opened at once enroll one device, not one each.
 */
export function devAutoPair(pairing: Pairing, currentStatus: () => SidebandStatus): (status: SidebandStatus) => void {
  let attempts = 0;
  let triedThisEpisode = false;
  let running = false;

  const attempt = async (): Promise<void> => {
    running = true;
    try {
      const run = async () => {
        if (currentStatus().state !== 'needs-pairing') return; // another tab paired meanwhile
        const code = await devPairCode();
        if (code) await pairing.pair(code, 'dev mode');
      };
      if (navigator.locks) await navigator.locks.request('sideband-demo-auto-pair', run);
      else await run();
    } finally {
      running = false;
    }
  };

  return (status) => {
    if (status.state !== 'needs-pairing') {
      triedThisEpisode = false;
      return;
    }
    if (running || triedThisEpisode || attempts >= MAX_ATTEMPTS) return;
    triedThisEpisode = true;
    attempts++;
    void attempt();
  };
}

/** The dev server's code, or undefined when this origin has no dev mode. */
async function devPairCode(): Promise<string | undefined> {
  try {
    const response = await fetch('/dev/pair-code', { cache: 'no-store', headers: { accept: 'application/json' } });
    if (!response.ok) return undefined;
    const body = (await response.json()) as { code?: unknown };
    return typeof body.code === 'string' ? body.code : undefined;
  } catch {
    return undefined;
  }
}
