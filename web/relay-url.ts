import { ConfigError } from './errors.js';

/**
 * The WebSocket endpoint of a relay given its HTTP base URL: `http(s)://host[/base]` →
 * `ws(s)://host[/base]/v1/connect`. A `ws(s)://` URL is taken as the endpoint itself.
 */
export function relayWebSocketUrl(relay: string): string {
  const url = parseRelayUrl(relay);
  if (url.protocol === 'ws:' || url.protocol === 'wss:') return url.toString();
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`relay URL must be http(s) or ws(s), got ${url.protocol}`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/connect`;
  url.search = '';
  url.hash = '';
  return url.toString();
}

/**
 * The control-plane base of a relay given its HTTP base URL: a trailing slash and no query or
 * fragment, so that request paths resolve under it. `ConfigError` unless it is http(s).
 *
 *   new URL('v1/tokens/session', controlPlaneBaseUrl('https://host/base')); // https://host/base/v1/tokens/session
 */
export function controlPlaneBaseUrl(relay: string): URL {
  const url = parseRelayUrl(relay);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`relay URL must be http(s), got ${url.protocol}`);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  url.search = '';
  url.hash = '';
  return url;
}

/** Why a `--relay` value is unusable for a CLI (http(s), no credentials, query or fragment), or undefined. */
export function checkRelayUrl(relay: string): string | undefined {
  let url: URL;
  try {
    url = new URL(relay);
  } catch {
    return '--relay must be a URL like http://127.0.0.1:8787';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return '--relay must be an http:// or https:// URL';
  if (url.username || url.password) return '--relay must not contain credentials';
  if (url.search || url.hash) return '--relay must not contain a query or fragment';
  return undefined;
}

function parseRelayUrl(relay: string): URL {
  try {
    return new URL(relay);
  } catch {
    throw new ConfigError(`relay URL ${JSON.stringify(relay)} is not a valid URL`);
  }
}
