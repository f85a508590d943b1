import { MESSAGE_PROTOCOL_VERSION, type PageMessage, type Reply, type SidebandStatus } from '../sw/messages.js';
import { SidebandError } from './sideband-error.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A page message that expects a Reply, before `v` and its reply port are attached. */
export type RequestMessage = DistributiveOmit<Exclude<Extract<PageMessage, { port: MessagePort }>, { type: 'lane' }>, 'port' | 'v'>;

/** What a message from the worker (broadcast or client postMessage) turned out to be. */
export type WorkerNotice =
  | { kind: 'status'; status: SidebandStatus }
  | { kind: 'event'; name: string; data: unknown }
  /** One of ours by shape, from a worker built with another message version. */
  | { kind: 'version_mismatch'; v: unknown };

const NOTICE_TYPES = new Set(['status', 'event']);

/**
 * Reads a worker broadcast; `undefined` for anything that is not one (the app's own messages
 * on the same channel name or from its worker are none of our business).
 *
 * @example
 *   broadcast.onmessage = (event) => {
 *     const notice = parseWorkerNotice(event.data);
 *     if (notice?.kind === 'status') render(notice.status);
 *   };
 */
export function parseWorkerNotice(data: unknown): WorkerNotice | undefined {
  if (!isObject(data) || typeof data.type !== 'string' || !NOTICE_TYPES.has(data.type)) return undefined;
  // Checked before the payload: another version may have changed it (sw/messages.ts header).
  if (data.v !== MESSAGE_PROTOCOL_VERSION) return { kind: 'version_mismatch', v: data.v };
  if (data.type === 'status') return isStatus(data.status) ? { kind: 'status', status: data.status } : undefined;
  return typeof data.name === 'string' ? { kind: 'event', name: data.name, data: data.data } : undefined;
}

/**
 * The status a Reply carries, or the SidebandError it stands for.
 *
 * @example
 *   const status = replyStatus(await request(controller, { type: 'hello' }));
 */
export function replyStatus(reply: unknown): SidebandStatus {
  if (!isReply(reply)) throw new SidebandError('bad_response', 'the service worker sent a reply this page cannot read');
  if (!reply.ok) throw new SidebandError(reply.code, reply.message, reply.status);
  return reply.status;
}

export function isReply(value: unknown): value is Reply {
  if (!isObject(value)) return false;
  if (value.ok === true) return isStatus(value.status);
  return value.ok === false && typeof value.code === 'string' && typeof value.message === 'string' && (value.status === undefined || isStatus(value.status));
}

export function isStatus(value: unknown): value is SidebandStatus {
  return isObject(value) && typeof value.state === 'string' && typeof value.bootId === 'string';
}

/** The error a page reports for a version mismatch, logged loudly: only a reload fixes it. */
export function versionMismatch(detail: string): SidebandError {
  const error = new SidebandError(
    'version_mismatch',
    `sideband: this page speaks message version ${MESSAGE_PROTOCOL_VERSION} and the service worker does not (${detail}); reload the page`,
  );
  console.error(error.message);
  return error;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
