// A few DOM helpers. Text always goes in through textContent, never HTML, so nothing a mail or a
// server says can become markup (and the CSP forbids inline script anyway).

type Child = Node | string | undefined | false;

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: { class?: string; text?: string; attrs?: Record<string, string> } = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.class) node.className = props.class;
  if (props.text !== undefined) node.textContent = props.text;
  for (const [name, value] of Object.entries(props.attrs ?? {})) node.setAttribute(name, value);
  for (const child of children) if (child !== undefined && child !== false) node.append(child);
  return node;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} is missing from index.html`);
  return node as T;
}

/** Shows a message in an element (or hides it for undefined). */
export function say(node: HTMLElement, message: string | undefined, tone?: 'ok'): void {
  node.textContent = message ?? '';
  node.hidden = message === undefined;
  node.classList.toggle('ok', tone === 'ok');
}
