import { byTestId } from './dom.js';
import { codeOf, describe, ensureOk } from './failure.js';

/**
 * An agent-style answer streamed token by token: a plain fetch through the worker, the body
 * read with a reader and each piece appended as it arrives (no waiting for the whole text).
 * Asking again or pressing Stop cancels the answer in flight, which aborts the daemon's handler.
 */
export function mountAgent(): void {
  const form = byTestId<HTMLFormElement>('agent-form');
  const prompt = byTestId<HTMLInputElement>('agent-prompt');
  const answer = byTestId('agent-answer');
  const state = byTestId('agent-state');
  const error = byTestId('agent-error');
  let current: AbortController | undefined;

  const ask = async (text: string): Promise<void> => {
    current?.abort();
    const controller = (current = new AbortController());
    answer.textContent = '';
    error.textContent = '';
    state.textContent = 'streaming';
    try {
      const response = await ensureOk(await fetch(`/sideband/api/agent?prompt=${encodeURIComponent(text)}`, { signal: controller.signal }));
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        answer.append(value);
      }
      state.textContent = 'done';
    } catch (failure) {
      if (controller !== current) return; // replaced by a newer question: it owns the display
      state.textContent = codeOf(failure) === 'aborted' ? 'stopped' : 'failed';
      if (codeOf(failure) !== 'aborted') error.textContent = describe(failure);
    }
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void ask(prompt.value);
  });
  byTestId('agent-stop').addEventListener('click', () => current?.abort());
}
