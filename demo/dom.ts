/**
 * The element with `data-testid="id"`. Code and tests find elements the same way, so the
 * markup in index.html is the one list of what the page shows.
 */
export function byTestId<T extends HTMLElement = HTMLElement>(id: string, root: ParentNode = document): T {
  const element = root.querySelector<T>(`[data-testid="${id}"]`);
  if (!element) throw new Error(`demo: index.html has no element with data-testid="${id}"`);
  return element;
}

/** A new element with its text (never parsed as HTML: daemon data stays text). */
export function element<K extends keyof HTMLElementTagNameMap>(tag: K, text = '', attributes: Record<string, string> = {}): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.textContent = text;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

/** Removes the oldest children beyond `max` (a log that runs for hours stays bounded). */
export function trimChildren(list: Element, max: number, oldest: 'first' | 'last'): void {
  while (list.children.length > max) (oldest === 'first' ? list.firstElementChild : list.lastElementChild)?.remove();
}
