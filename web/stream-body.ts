import { joinChunks } from '../protocol/bytes.js';
import type { MuxStream } from '../protocol/stream/mux-stream.js';

export const STREAM_BODY_DEFAULTS = Object.freeze({
  /**
   * Pieces already buffered when the consumer asks are joined into one chunk until it reaches
   * this size (the last piece joined may pass it). Every chunk costs the consumer a round (in a
   * service worker, a write into the browser's data pipe and a new read), so a consumer that
   * fell behind catches up in a few large chunks instead of one per frame. Nothing ever waits
   * for more bytes to join.
   */
  maxJoinedBytes: 256 * 1024,
});

/**
 * A WHATWG ReadableStream over a mux stream's body. It pulls when the consumer asks, so credit
 * flows back to the sender only as fast as the consumer reads (design.md: flow control); what
 * is already buffered leaves in one chunk (`maxJoinedBytes`), and the stream closes together
 * with the last chunk once the peer's END is in. A RESET or a broken session errors the
 * stream: a body is never reported complete unless the peer's END arrived.
 */
export function readableFromStream(stream: MuxStream, options: { maxJoinedBytes?: number } = {}): ReadableStream<Uint8Array> {
  const max = options.maxJoinedBytes ?? STREAM_BODY_DEFAULTS.maxJoinedBytes;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const first = await stream.read();
          if (!first) return controller.close();
          let chunk = first;
          if (stream.bufferedIn > 0 && first.length < max) {
            // More arrived while the consumer was busy: these reads resolve without waiting.
            const parts = [first];
            let size = first.length;
            while (stream.bufferedIn > 0 && size < max) {
              const next = await stream.read();
              if (!next) break;
              parts.push(next);
              size += next.length;
            }
            chunk = joinChunks(parts);
          }
          controller.enqueue(chunk);
          // The peer ended and nothing is left: close now rather than in one more pull.
          if (stream.remoteEnded && stream.bufferedIn === 0) controller.close();
        } catch (error) {
          controller.error(error);
        }
      },
      cancel(reason) {
        stream.reset('cancel', reason instanceof Error ? reason.message : 'body cancelled');
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * Copies a WHATWG body into a mux stream, awaiting each write (backpressure), then END.
 * Resolves false if the copy stopped because the stream died or the source failed.
 */
export async function pipeBodyToStream(
  body: ReadableStream<Uint8Array>,
  stream: MuxStream,
  onSourceError: (error: unknown) => void,
  endOptions: { stopPeer?: boolean } = {},
): Promise<boolean> {
  const reader = body.getReader();
  stream.onAbort(() => {
    reader.cancel().catch(() => {});
  });
  try {
    for (;;) {
      let result: Awaited<ReturnType<typeof reader.read>>;
      try {
        result = await reader.read();
      } catch (error) {
        onSourceError(error);
        return false;
      }
      if (result.done) break;
      if (stream.closed) return false;
      await stream.write(result.value);
    }
    stream.end(endOptions);
    return true;
  } catch {
    return false; // the stream failed under us; its error is already reported to both sides
  } finally {
    reader.releaseLock();
  }
}
