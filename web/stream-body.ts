import type { MuxStream } from '../protocol/stream/mux-stream.js';

/**
 * A WHATWG ReadableStream over a mux stream's body. It pulls one chunk per read, so credit
 * flows back to the sender only as fast as the consumer reads (design.md: flow control). A
 * RESET or a broken session errors the stream: a body is never reported complete unless the
 * peer's END arrived.
 */
export function readableFromStream(stream: MuxStream): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const chunk = await stream.read();
          if (chunk) controller.enqueue(chunk);
          else controller.close();
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
