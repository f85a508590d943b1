import { HEADER_LENGTH, MAX_PAYLOAD } from '../../protocol/codes.js';

/**
 * The binary envelope between relay nodes on a node's Redis inbox (scale-out.md §4). It carries
 * the SBRP frame bytes unchanged, tagged with what the receiver needs to fence and order them:
 *
 *   0  version   u8 (1)
 *   1  type      u8 (EnvelopeType)
 *   2  nodeLen   u8, then the sender node id (1..64 bytes of [A-Za-z0-9._-])
 *   .  didLen    u8, then the daemon id (0..255 bytes UTF-8; 0 only for a probe)
 *   .  epoch     u64 BE, the owner lease epoch the sender acted under (fencing)
 *   .  sid       u64 BE, the SessionID (0 for daemon-wide types)
 *   .  seq       u32 BE, hop sequence per session and direction (frames only)
 *   .  code      u16 BE, a Control code or flags, per type
 *   .  payload   the rest: one SBRP frame for ClientFrame/DaemonFrame, empty otherwise
 *
 * Another node is not trusted blindly: whatever arrives on the inbox goes through `decodeEnvelope`,
 * which refuses anything malformed with an EnvelopeError rather than guessing.
 */
export const EnvelopeType = {
  /** edge → owner: a client's frame for the daemon. */
  clientFrame: 1,
  /** owner → edge: a daemon's frame for the client. */
  daemonFrame: 2,
  /** edge → owner: a new client session of this daemon lives on the sender. */
  sessionOpen: 3,
  /**
   * edge → owner: send Control `code` (session_ended, session_not_found) for `sid` to the daemon;
   * code 0: forget an announced session whose upgrade never happened, telling the daemon nothing.
   */
  daemonControl: 4,
  /**
   * owner → edge: a frame of `sid` could not be delivered; end that session (never a silent gap)
   * with Control `code` (internal_error, or backpressure when out of credit too long).
   */
  sessionLost: 5,
  /** owner → edge: the daemon's socket at `epoch` is gone; pause its sessions. */
  daemonGone: 6,
  /** new owner → nodes: the daemon is now on the sender at `epoch`; `code` bit 0 = may resume. */
  ownerChanged: 7,
  /** node → itself: subscriber liveness probe. */
  probe: 8,
  /**
   * receiver → sender: `seq` bytes of `sid` were written to the destination socket (credit,
   * scale-out.md §6). `code` 1: for client→daemon bytes (owner → edge); 2: for daemon→client.
   */
  credit: 9,
  /** owner → edge: the session announced by sessionOpen (code 1) is known here; the edge may upgrade. */
  sessionOpened: 10,
} as const;

/** sessionOpen `code`: 1 = answer with sessionOpened (an upgrade waits for it). */
export const ACK_WANTED = 1;

export const CreditFor = { clientFrames: 1, daemonFrames: 2 } as const;
export type EnvelopeType = (typeof EnvelopeType)[keyof typeof EnvelopeType];

export interface Envelope {
  type: EnvelopeType;
  node: string;
  did: string;
  epoch: bigint;
  sid: bigint;
  seq: number;
  code: number;
  /** A view into the received message for frame types; empty otherwise. */
  payload: Uint8Array;
}

export class EnvelopeError extends Error {
  override readonly name: string = 'EnvelopeError';
  readonly code = 'malformed_envelope';
}

export const ENVELOPE_VERSION = 1;
/** The type byte of a batch container (envelope-batch.ts): never a single envelope, so never nested. */
export const BATCH_TYPE = 0x40;
export const MAX_NODE_ID_LENGTH = 64;
export const MAX_DAEMON_ID_BYTES = 255;
export const NODE_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const FIXED = 1 + 1 + 1 + 1 + 8 + 8 + 4 + 2;
const MAX_FRAME = HEADER_LENGTH + MAX_PAYLOAD;
const KNOWN_TYPES: ReadonlySet<number> = new Set(Object.values(EnvelopeType));
const FRAME_TYPES: ReadonlySet<number> = new Set([EnvelopeType.clientFrame, EnvelopeType.daemonFrame]);
const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Node ids are ASCII, so their bytes are their characters; kept encoded per sender. */
const nodeBytesCache = new Map<string, Uint8Array>();

export function encodeEnvelope(e: Omit<Envelope, 'payload'> & { payload?: Uint8Array }): Buffer {
  let node = nodeBytesCache.get(e.node);
  if (!node) {
    if (!NODE_ID_PATTERN.test(e.node)) throw new EnvelopeError(`bad node id ${JSON.stringify(e.node)}`);
    node = utf8.encode(e.node);
    if (nodeBytesCache.size < 1024) nodeBytesCache.set(e.node, node);
  }
  const did = utf8.encode(e.did);
  if (did.length > MAX_DAEMON_ID_BYTES) throw new EnvelopeError('daemon id too long');
  const payload = e.payload ?? EMPTY;
  const out = Buffer.allocUnsafe(FIXED + node.length + did.length + payload.length);
  let at = 0;
  out[at++] = ENVELOPE_VERSION;
  out[at++] = e.type;
  out[at++] = node.length;
  out.set(node, at);
  at += node.length;
  out[at++] = did.length;
  out.set(did, at);
  at += did.length;
  out.writeBigUInt64BE(e.epoch, at);
  out.writeBigUInt64BE(e.sid, at + 8);
  out.writeUInt32BE(e.seq, at + 16);
  out.writeUInt16BE(e.code, at + 20);
  out.set(payload, at + 22);
  return out;
}

const EMPTY = new Uint8Array(0);

/** Parses one inbox message; throws EnvelopeError on anything that is not exactly an envelope. */
export function decodeEnvelope(message: Buffer): Envelope {
  if (message.length < FIXED + 1) throw new EnvelopeError(`envelope of ${message.length} bytes is too short`);
  if (message[0] !== ENVELOPE_VERSION) throw new EnvelopeError(`unknown envelope version ${message[0]}`);
  const type = message[1]!;
  if (type === BATCH_TYPE) throw new EnvelopeError('a batch where one envelope belongs (batches do not nest)');
  if (!KNOWN_TYPES.has(type)) throw new EnvelopeError(`unknown envelope type ${type}`);
  const nodeLength = message[2]!;
  if (nodeLength === 0 || nodeLength > MAX_NODE_ID_LENGTH) throw new EnvelopeError('bad node id length');
  let at = 3;
  if (message.length < at + nodeLength + 1) throw new EnvelopeError('truncated node id');
  const node = message.toString('latin1', at, at + nodeLength);
  if (!NODE_ID_PATTERN.test(node)) throw new EnvelopeError('bad node id');
  at += nodeLength;
  const didLength = message[at++]!;
  if (message.length < at + didLength + 22) throw new EnvelopeError('truncated envelope');
  let did: string;
  try {
    did = strictUtf8.decode(message.subarray(at, at + didLength));
  } catch {
    throw new EnvelopeError('daemon id is not UTF-8');
  }
  at += didLength;
  if (didLength === 0 && type !== EnvelopeType.probe) throw new EnvelopeError('empty daemon id');
  const epoch = message.readBigUInt64BE(at);
  const sid = message.readBigUInt64BE(at + 8);
  const seq = message.readUInt32BE(at + 16);
  const code = message.readUInt16BE(at + 20);
  const payload = message.subarray(at + 22);
  const sessionBound = type !== EnvelopeType.daemonGone && type !== EnvelopeType.ownerChanged && type !== EnvelopeType.probe;
  if (sessionBound && sid === 0n) throw new EnvelopeError('session envelope with SessionID 0');
  if (!sessionBound && sid !== 0n) throw new EnvelopeError('daemon envelope with a SessionID');
  if (FRAME_TYPES.has(type)) {
    if (payload.length < HEADER_LENGTH || payload.length > MAX_FRAME) throw new EnvelopeError(`frame of ${payload.length} bytes`);
  } else if (payload.length !== 0) {
    throw new EnvelopeError('payload on a control envelope');
  }
  if (type === EnvelopeType.credit && code !== CreditFor.clientFrames && code !== CreditFor.daemonFrames) throw new EnvelopeError('credit for an unknown direction');
  return { type: type as EnvelopeType, node, did, epoch, sid, seq, code, payload };
}
