import { FrameType } from '../../protocol/codes.js';
import { encodeFrame } from '../../protocol/frame-codec.js';
import type { ReceivedFrame, TestPeer } from '../../relay/testing/harness.js';

/**
 * Numbered Data frames for raw-peer tests: the relay never reads Data payloads, so a counter
 * in the first four bytes (padded to the 28-byte minimum, or to `length`) shows order and loss.
 */
export function numberedData(sessionId: bigint, index: number, length = 40): Uint8Array {
  const payload = new Uint8Array(Math.max(28, length));
  new DataView(payload.buffer).setUint32(0, index);
  payload[payload.length - 1] = index & 0xff;
  return encodeFrame(FrameType.Data, sessionId, payload);
}

export function dataIndex(frame: ReceivedFrame): number {
  return new DataView(frame.payload.buffer, frame.payload.byteOffset).getUint32(0);
}

/** The next `count` Data frames for `sessionId` at `peer`, as their numbers. */
export async function receiveNumbered(peer: TestPeer, sessionId: bigint, count: number, timeoutMs = 10_000): Promise<number[]> {
  const got: number[] = [];
  for (let i = 0; i < count; i++) got.push(dataIndex(await peer.next((f) => f.type === FrameType.Data && f.sessionId === sessionId, timeoutMs, `Data #${i}`)));
  return got;
}

export const range = (count: number, from = 0): number[] => Array.from({ length: count }, (_, i) => from + i);
