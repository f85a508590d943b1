import type { MuxStream } from '../protocol/stream/mux-stream.js';
import { acceptChannel, refuseChannel, type Channel, type ChannelLimits } from '../web/channel.js';
import { serveStream, SERVE_DEFAULTS, type FetchHandler, type ServeOptions } from './serve-stream.js';

/** What a channel handler learns about the channel's OPEN. */
export interface ChannelRequest {
  /** Path and query as opened. */
  path: string;
  /** `path` resolved against the listener's base URL (read `pathname`, `searchParams`). */
  url: URL;
  headers: Headers;
}

/**
 * Serves one accepted channel. A throw or rejection resets it with `internal` (the client's
 * channel fails; the session lives on), even from inside a `for await` over the channel: the
 * channel's automatic end (peer ended, loop left) waits until the handler settles.
 */
export type ChannelHandler = (channel: Channel, request: ChannelRequest) => void | Promise<void>;

/**
 * Channel routing: one handler for every path, or a map from pathname (no query) to handler.
 * With a map, a path it lacks is refused with HEAD 404 and END.
 *
 *   onChannel: { '/term': (ch) => { for await (const line of ch) ch.send(run(line)); } }
 */
export type ChannelRoutes = ChannelHandler | Readonly<Record<string, ChannelHandler>>;

export interface RouteOptions {
  fetch: FetchHandler;
  onChannel?: ChannelRoutes;
  serve?: ServeOptions;
  channelLimits?: Partial<ChannelLimits>;
  /** A channel handler failed (never sent to the client). */
  onChannelError?: (error: unknown, request: ChannelRequest) => void;
}

/** Hands a stream the client opened to the fetch handler (http) or a channel handler (channel). */
export function routeStream(stream: MuxStream, options: RouteOptions): void {
  if (stream.head.kind === 'http') {
    void serveStream(stream, options.fetch, options.serve);
    return;
  }
  const url = new URL(stream.head.path, options.serve?.baseUrl ?? SERVE_DEFAULTS.baseUrl);
  const handler = pickHandler(options.onChannel, url.pathname);
  if (!handler) {
    refuseChannel(stream, 404);
    return;
  }
  const channel = acceptChannel(stream, { limits: options.channelLimits });
  const request: ChannelRequest = { path: stream.head.path, url, headers: channel.headers };
  const failed = (error: unknown): void => {
    options.onChannelError?.(error, request);
    // A fixed reason: the handler's message stays on the daemon (docs/protocol.md §8).
    channel.abort('internal', 'channel handler failed');
  };
  let release!: () => void;
  channel.holdEndUntil(new Promise<void>((resolve) => (release = resolve)));
  try {
    // Resolving is not closing: a handler may return at once and answer from listeners.
    Promise.resolve(handler(channel, request)).then(release, (error: unknown) => {
      failed(error);
      release();
    });
  } catch (error) {
    failed(error);
    release();
  }
}

function pickHandler(routes: ChannelRoutes | undefined, pathname: string): ChannelHandler | undefined {
  if (!routes) return undefined;
  if (typeof routes === 'function') return routes;
  return Object.hasOwn(routes, pathname) ? routes[pathname] : undefined;
}
