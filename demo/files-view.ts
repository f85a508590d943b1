import { byTestId, element } from './dom.js';
import { describe, ensureOk } from './failure.js';
import { formatBytes } from './format.js';

interface FileEntry {
  name: string;
  size: number;
  modifiedAt: string;
}

/**
 * The daemon's file list (`GET /sideband/api/files`) and an upload (`POST /sideband/api/upload`,
 * the file streamed as the body; the daemon answers its size and SHA-256). Returns `refresh`,
 * which main.ts calls whenever the session becomes active.
 */
export function mountFiles(): { refresh: () => Promise<void> } {
  const list = byTestId('files-list');
  const state = byTestId('files-state');
  const error = byTestId('files-error');

  const refresh = async (): Promise<void> => {
    state.textContent = 'loading';
    error.textContent = '';
    try {
      const response = await ensureOk(await fetch('/sideband/api/files'));
      const { files } = (await response.json()) as { files: FileEntry[] };
      list.replaceChildren(
        ...files.map((file) => {
          const item = element('li', '', { 'data-testid': 'file-item' });
          item.append(element('span', file.name, { class: 'mono' }), element('span', formatBytes(file.size), { class: 'muted' }));
          item.title = `modified ${file.modifiedAt}`;
          return item;
        }),
      );
      state.textContent = 'loaded';
    } catch (failure) {
      state.textContent = 'failed';
      error.textContent = describe(failure);
    }
  };
  byTestId('files-refresh').addEventListener('click', () => void refresh());

  const input = byTestId<HTMLInputElement>('upload-input');
  const uploadState = byTestId('upload-state');
  const result = byTestId('upload-result');
  const uploadError = byTestId('upload-error');
  input.addEventListener('change', async () => {
    const file = input.files?.[0];
    if (!file) return;
    uploadState.textContent = 'uploading';
    result.textContent = '';
    uploadError.textContent = '';
    try {
      const response = await ensureOk(await fetch('/sideband/api/upload', { method: 'POST', body: file, headers: { 'content-type': 'application/octet-stream' } }));
      const { bytes, sha256 } = (await response.json()) as { bytes: number; sha256: string };
      uploadState.textContent = 'uploaded';
      result.textContent = `${file.name}: ${formatBytes(bytes)}, sha256 ${sha256}`;
    } catch (failure) {
      uploadState.textContent = 'failed';
      uploadError.textContent = describe(failure);
    } finally {
      input.value = '';
    }
  });

  return { refresh };
}
