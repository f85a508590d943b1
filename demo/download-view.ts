import { byTestId } from './dom.js';
import { codeOf, describe, ensureOk, Failure } from './failure.js';
import { formatBytes, formatRate } from './format.js';

/** Redraws per second at most: counting is per chunk, painting need not be. */
const PAINT_INTERVAL_MS = 100;

/**
 * A large download (`GET /sideband/api/download?mb=N`) with a progress bar: the body is read
 * as a stream and only counted, so a gigabyte never sits in the page, and the count is checked
 * against Content-Length at the end (a short body is a failure, never a success).
 */
export function mountDownload(): void {
  const form = byTestId<HTMLFormElement>('download-form');
  const mb = byTestId<HTMLInputElement>('download-mb');
  const progress = byTestId<HTMLProgressElement>('download-progress');
  const state = byTestId('download-state');
  const status = byTestId('download-status');
  const counted = byTestId('download-bytes');
  const error = byTestId('download-error');
  let current: AbortController | undefined;

  const paint = (bytes: number, total: number, started: number) => {
    counted.textContent = String(bytes);
    if (total > 0) progress.value = bytes / total;
    const of = total > 0 ? ` of ${formatBytes(total)}` : '';
    status.textContent = `${formatBytes(bytes)}${of} · ${formatRate(bytes, performance.now() - started)}`;
  };

  const download = async (size: string): Promise<void> => {
    current?.abort();
    const controller = (current = new AbortController());
    const started = performance.now();
    let bytes = 0;
    let total = 0;
    state.textContent = 'running';
    error.textContent = '';
    progress.value = 0;
    paint(0, 0, started);
    try {
      const response = await ensureOk(await fetch(`/sideband/api/download?mb=${encodeURIComponent(size)}`, { signal: controller.signal }));
      total = Number(response.headers.get('content-length') ?? 0);
      if (!total) progress.removeAttribute('value'); // indeterminate without a length
      const reader = response.body!.getReader();
      let painted = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        bytes += value.byteLength;
        if (performance.now() - painted >= PAINT_INTERVAL_MS) {
          paint(bytes, total, started);
          painted = performance.now();
        }
      }
      paint(bytes, total, started);
      if (total && bytes !== total) throw new Failure('truncated', `received ${bytes} of ${total} bytes`);
      state.textContent = 'done';
    } catch (failure) {
      if (controller !== current) return;
      paint(bytes, total, started);
      state.textContent = codeOf(failure) === 'aborted' ? 'cancelled' : 'failed';
      if (codeOf(failure) !== 'aborted') error.textContent = describe(failure);
    }
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void download(mb.value);
  });
  byTestId('download-cancel').addEventListener('click', () => current?.abort());
}
