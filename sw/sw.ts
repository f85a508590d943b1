/// <reference lib="webworker" />
/**
 * The Sideband service worker (design.md): one listener per event, thin glue over the shared
 * layers. It answers only same-origin requests under the prefix; everything else goes to the
 * network without `respondWith` and, where the browser has static routing, never wakes it.
 */
import { clientsClaim } from 'workbox-core';
import { WorkerConnection } from './connection.js';
import { proxyFetch } from './fetch-proxy.js';
import { Lane } from './lane.js';
import { BROADCAST_CHANNEL, MESSAGE_PROTOCOL_VERSION, type PageMessage, type Reply, type SidebandStatus, type WorkerBroadcast, type WorkerStats } from './messages.js';
import { SidebandStore } from './sideband-store.js';
import { readWorkerConfig, WORKER_DEFAULTS } from './worker-config.js';

declare const self: ServiceWorkerGlobalScope;

const config = readWorkerConfig(self.location.href);
/** A new id per worker instance: pages see a restart in the status (service-worker.md). */
const bootId = crypto.randomUUID();
const broadcast = new BroadcastChannel(BROADCAST_CHANNEL);
let storePromise: Promise<SidebandStore> | undefined;
const store = (): Promise<SidebandStore> => (storePromise ??= SidebandStore.open());
const lanes = new Set<Lane>();
const stats: WorkerStats = { passedThrough: 0, answered: 0, lanes: 0, staticRouting: false };

const connection = new WorkerConnection(config, {
  bootId,
  // The protocol core's AEAD is synchronous (one call per frame, in order); native WebCrypto
  // ChaCha20-Poly1305 is async and missing in Chromium 150 and Firefox 140, so noble carries
  // the session everywhere (README "Service worker").
  aead: 'noble',
  store,
  onStatus: (status) => publish({ v: MESSAGE_PROTOCOL_VERSION, type: 'status', status }, true),
  onEvent: (name, data) => publish({ v: MESSAGE_PROTOCOL_VERSION, type: 'event', name, data }, false),
});

/** Status goes to every tab on the channel and to each client directly (what must arrive); events on the channel. */
function publish(message: WorkerBroadcast, direct: boolean): void {
  broadcast.postMessage(message);
  if (!direct) return;
  void self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((clients) => {
    for (const client of clients) client.postMessage(message);
  });
}

self.addEventListener('install', (event) => {
  routeOthersToNetwork(event);
  // An update activates at once (skipWaiting directly: workbox-core's is deprecated). Streams
  // of the old instance end with an error in the page if it stops, never as a short body.
  void self.skipWaiting();
});

clientsClaim();

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || !url.pathname.startsWith(config.prefix)) {
    stats.passedThrough++;
    return; // network, untouched
  }
  stats.answered++;
  event.respondWith(proxyFetch(request, event.clientId || event.resultingClientId || '', { connection, store, prefix: config.prefix, bootId }));
});

self.addEventListener('message', (event) => {
  const message = event.data as PageMessage | undefined;
  if (typeof message !== 'object' || message === null || typeof message.type !== 'string') return;
  const port = 'port' in message && message.port instanceof MessagePort ? message.port : event.ports[0];
  if (message.v !== MESSAGE_PROTOCOL_VERSION) {
    port?.postMessage({ ok: false, code: 'version_mismatch', message: `the worker speaks message protocol ${MESSAGE_PROTOCOL_VERSION}, the page ${String(message.v)}: reload the page` } satisfies Reply);
    return;
  }
  event.waitUntil(handle(message, port));
});

async function handle(message: PageMessage, port: MessagePort | undefined): Promise<void> {
  const reply = (result: Promise<SidebandStatus>): Promise<void> =>
    result.then(
      (status) => port?.postMessage({ ok: true, status } satisfies Reply),
      (error: Error & { code?: string }) => port?.postMessage({ ok: false, code: typeof error.code === 'string' ? error.code : 'internal', message: error.message, status: connection.status } satisfies Reply),
    );
  switch (message.type) {
    case 'hello':
      return reply(connection.start());
    case 'heartbeat':
      void connection.start(); // each message extends the worker's life; also (re)starts the session
      return;
    case 'wake':
      connection.wake();
      return;
    case 'pair':
      return reply(connection.pair(String(message.code), message.relay, message.label));
    case 'approve-identity':
      return reply(connection.approveIdentity(String(message.fingerprint)));
    case 'forget':
      return reply(connection.forget());
    case 'stats':
      port?.postMessage({ ok: true, status: connection.status, result: { ...stats, lanes: lanes.size } } satisfies Reply);
      return;
    case 'claim':
      return reply(self.clients.claim().then(() => connection.status));
    case 'lane': {
      if (!port) return;
      if (lanes.size >= WORKER_DEFAULTS.maxLanes) {
        // The oldest lane belongs to the page most likely gone without a 'bye'.
        lanes.values().next().value?.close();
      }
      const lane: Lane = new Lane(port, connection, () => lanes.delete(lane));
      lanes.add(lane);
      return;
    }
  }
}

/**
 * Static routing (Chromium's `InstallEvent.addRoutes`): requests outside the prefix go to the
 * network without waking the worker, which otherwise taxes each by ~0.3–0.6 ms.
 */
function routeOthersToNetwork(event: ExtendableEvent): void {
  const install = event as ExtendableEvent & { addRoutes?: (rules: unknown) => Promise<void> };
  const URLPatternCtor = (globalThis as { URLPattern?: new (init: { pathname: string }) => unknown }).URLPattern;
  if (typeof install.addRoutes !== 'function' || !URLPatternCtor) return;
  try {
    const rule = { condition: { not: { urlPattern: new URLPatternCtor({ pathname: `${config.prefix}*` }) } }, source: 'network' };
    event.waitUntil(
      install.addRoutes(rule).then(
        () => (stats.staticRouting = true),
        () => {},
      ),
    );
  } catch {
    // an older router without `not`: every request reaches the fetch listener, which lets it through
  }
}
