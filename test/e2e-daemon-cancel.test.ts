/**
 * Cancellation end to end, at every point it can race the request (hardening issue: a
 * cancellation test timed out on a loaded CI machine). Nothing here waits on a clock: each
 * abort is triggered by the event it must race (the handler starting, the head being sent),
 * so a slow machine changes the timing of nothing but the total run time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SidebandClient } from '../client/connect.js';
import { checkNoLeakedHandles } from './helpers/leak-check.js';
import { startHttpFixture, type HttpFixture } from './helpers/http-fixture.js';
import { waitFor } from './helpers/wait.js';

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Per request id: the handler started, and what its request.signal said. */
const entered = new Map<string, Deferred<Request>>();
const aborted = new Map<string, Deferred<unknown>>();
const bodyCancelled = new Map<string, Deferred<true>>();
const handled: string[] = [];
/** Called by /race/:id as it answers: the test aborts the client request right there. */
let onRespond: ((id: string) => void) | undefined;

const slot = <T>(map: Map<string, Deferred<T>>, id: string): Deferred<T> => {
  let entry = map.get(id);
  if (!entry) map.set(id, (entry = deferred<T>()));
  return entry;
};

async function handler(request: Request): Promise<Response> {
  const [, kind, id = ''] = new URL(request.url).pathname.split('/');
  handled.push(`${kind}/${id}`);
  const signal = request.signal;
  // Checked, not only listened to: an abort can land before the handler looks.
  const onAbort = () => slot(aborted, id).resolve(signal.reason);
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  slot(entered, id).resolve(request);
  switch (kind) {
    case 'wait':
      return new Promise<Response>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
    case 'race':
      onRespond?.(id);
      return new Response('answered');
    case 'endless':
      return new Response(new ReadableStream<Uint8Array>({ pull: (controller) => controller.enqueue(new Uint8Array(16 * 1024)), cancel: () => slot(bodyCancelled, id).resolve(true) }));
    default:
      return new Response('ok');
  }
}

describe('e2e: cancellation reaches the daemon at every point it can race', () => {
  checkNoLeakedHandles();
  let h: HttpFixture;
  let client: SidebandClient;

  beforeAll(async () => {
    h = await startHttpFixture({ fetch: handler });
    client = h.client();
    await client.ready();
  });
  afterAll(async () => {
    await h.close();
  });

  /** Every daemon stream is gone and the session still serves. */
  async function settled(via = client): Promise<void> {
    expect(await (await via.fetch('/ok/after')).text()).toBe('ok');
    await waitFor(() => h.server.status.streams === 0, 'no stream left at the daemon');
  }

  it('abort while the client still waits for its session: rejects with the reason; the handler never runs', async () => {
    const fresh = h.client(); // no session yet: fetch waits for one
    const controller = new AbortController();
    const pending = fresh.fetch('/wait/never-sent', { signal: controller.signal });
    controller.abort(new Error('user left early'));
    await expect(pending).rejects.toThrow('user left early');
    await settled(fresh); // a request opened after it was served: the aborted one never was
    expect(handled).not.toContain('wait/never-sent');
  });

  it('abort once the handler runs: the handler signal aborts with a remote cancel', async () => {
    const controller = new AbortController();
    const pending = client.fetch('/wait/in-handler', { signal: controller.signal });
    await slot(entered, 'in-handler').promise;
    controller.abort(new Error('user left'));
    await expect(pending).rejects.toThrow('user left');
    expect(await slot(aborted, 'in-handler').promise).toMatchObject({ code: 'cancel', remote: true });
    await settled();
  });

  it('abort racing the head, 50 times: every fetch settles, no stream is left behind', async () => {
    for (let i = 0; i < 50; i++) {
      const id = `race-${i}`;
      const controller = new AbortController();
      // Abort i macrotasks (i % 5) or microtasks after the handler answers: the head and the
      // RESET cross on the wire in both orders.
      onRespond = (answered) => {
        if (answered !== id) return;
        const abort = () => controller.abort(new Error('raced'));
        if (i % 2 === 0) setImmediate(abort);
        else queueMicrotask(abort);
      };
      const outcome = await client.fetch(`/race/${id}`, { signal: controller.signal }).then(
        async (res) => (await res.text().catch((error: Error) => error.message)) === 'answered' ? 'answered' : 'cancelled',
        (error: Error) => error.message,
      );
      expect(['answered', 'cancelled', 'raced']).toContain(outcome);
    }
    onRespond = undefined;
    await settled();
  });

  it('cancelling a response body mid-stream cancels the handler body', async () => {
    const res = await client.fetch('/endless/body');
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel('enough');
    expect(await slot(bodyCancelled, 'body').promise).toBe(true);
    await settled();
  });
});
