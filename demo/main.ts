/**
 * The demo web app: plain TypeScript and DOM. One `registerSideband()`, then plain
 * `fetch('/sideband/…')` for HTTP and the Sideband object for status, events, pairing, trust
 * and channels. Each section of index.html is one module; this file only wires them up.
 */
import { registerSideband, type Sideband } from '../page/index.js';
import type { SidebandStatus } from '../sw/messages.js';
import { mountAgent } from './agent-view.js';
import { devAutoPair } from './dev-auto-pair.js';
import { mountDownload } from './download-view.js';
import { mountEvents } from './events-view.js';
import { codeOf } from './failure.js';
import { mountFiles } from './files-view.js';
import { mountIdentityPrompt } from './identity-prompt.js';
import { pairCodeFromHash } from './pair-link.js';
import { mountPairing } from './pairing-view.js';
import { renderStatus, renderUnavailable } from './status-view.js';
import { mountTerminal } from './terminal-view.js';

declare global {
  interface Window {
    /** The page's Sideband object, for the console and for tests. */
    sideband?: Sideband;
  }
}

/** The web server puts the relay URL here at serve time, so one build works with any relay. */
const relay = document.querySelector<HTMLMetaElement>('meta[name="sideband-relay"]')?.content || undefined;

async function start(): Promise<void> {
  // Read now, cleared once registered: registerSideband() may reload the page once to get it
  // controlled, and the code must survive that reload.
  const linkCode = pairCodeFromHash(location.hash);

  // These need nothing but fetch through the worker.
  mountAgent();
  mountDownload();
  const files = mountFiles();

  let sideband: Sideband;
  try {
    sideband = await registerSideband({ relay });
  } catch (error) {
    renderUnavailable(codeOf(error), error instanceof Error ? error.message : String(error));
    return;
  }
  window.sideband = sideband;

  const pairing = mountPairing(sideband);
  const autoPair = devAutoPair(pairing, () => sideband.status);
  let linkHandled = linkCode === undefined; // a pairing link wins over dev mode's own code
  const views: ((status: SidebandStatus) => void)[] = [
    renderStatus,
    mountIdentityPrompt(sideband),
    (status) => pairing.update(status),
    (status) => linkHandled && autoPair(status),
    refreshWhenActive(files.refresh),
  ];
  const render = (status: SidebandStatus) => views.forEach((view) => view(status));
  sideband.on('status', render);
  mountEvents(sideband);
  mountTerminal(sideband);

  if (linkCode !== undefined) {
    history.replaceState(history.state, '', `${location.pathname}${location.search}`);
    render(sideband.status);
    await pairing.pair(linkCode, 'link');
    linkHandled = true;
  }
  render(sideband.status);
  document.body.dataset.ready = 'true';
}

/** Loads the file list each time the session becomes active (first load, after a reconnect). */
function refreshWhenActive(refresh: () => Promise<void>): (status: SidebandStatus) => void {
  let wasActive = false;
  return (status) => {
    const active = status.state === 'active';
    if (active && !wasActive) void refresh();
    wasActive = active;
  };
}

void start();
