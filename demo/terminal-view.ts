import type { Sideband } from '../page/index.js';
import { byTestId } from './dom.js';
import { codeOf } from './failure.js';

type Channel = Awaited<ReturnType<Sideband['channel']>>;

/** Lines the output keeps; older ones scroll away for good. */
const MAX_LINES = 500;

/**
 * A terminal-like view over `sideband.channel('/term')`: each submitted line is sent as one
 * message, each answer printed as it arrives. The channel opens on first use and reopens on
 * the next line after it closed (worker restart, daemon gone).
 */
export function mountTerminal(sideband: Sideband): void {
  const output = byTestId('term-output');
  const form = byTestId<HTMLFormElement>('term-form');
  const input = byTestId<HTMLInputElement>('term-input');
  const state = byTestId('term-state');
  const decoder = new TextDecoder();
  let opening: Promise<Channel> | undefined;

  const print = (line: string, kind: 'in' | 'out' | 'note') => {
    const row = document.createElement('div');
    row.className = kind;
    row.textContent = kind === 'in' ? `$ ${line}` : line;
    output.append(row);
    while (output.childElementCount > MAX_LINES) output.firstElementChild?.remove();
    output.scrollTop = output.scrollHeight;
  };

  const open = (): Promise<Channel> =>
    (opening ??= (async () => {
      state.textContent = 'opening';
      const channel = await sideband.channel('/term');
      channel.addEventListener('message', (event) => print(typeof event.data === 'string' ? event.data : decoder.decode(event.data), 'out'));
      channel.addEventListener('close', (event) => {
        opening = undefined;
        state.textContent = 'closed';
        if (event.detail.code) print(`[channel closed: ${event.detail.code}]`, 'note');
      });
      state.textContent = 'open';
      return channel;
    })().catch((error: unknown) => {
      opening = undefined;
      state.textContent = 'failed';
      print(`[could not open the channel: ${codeOf(error)}]`, 'note');
      throw error;
    }));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const line = input.value;
    input.value = '';
    print(line, 'in');
    let channel: Channel;
    try {
      channel = await open();
    } catch {
      return; // open() printed why
    }
    try {
      await channel.send(line);
    } catch (error) {
      print(`[not sent: ${codeOf(error)}]`, 'note');
    }
  });
}
