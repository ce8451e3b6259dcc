// One modal <dialog> for every "are you sure?" (removing a device, deleting everything): showModal()
// makes the rest of the page inert and keeps Tab inside; Escape cancels. Focus starts on Cancel, so a
// stray Enter never destroys anything, and returns to the control that opened the dialog.

import { byId, el } from './dom.js';

export interface ConfirmOptions {
  title: string;
  message: string;
  /** What will go, one line each. */
  items?: string[];
  confirmLabel: string;
}

export function confirmDialog(options: ConfirmOptions): Promise<boolean> {
  const dialog = byId<HTMLDialogElement>('confirm-dialog');
  const opener = document.activeElement instanceof HTMLElement ? document.activeElement : undefined;
  byId('confirm-title').textContent = options.title;
  byId('confirm-message').textContent = options.message;
  const items = byId('confirm-items');
  items.replaceChildren(...(options.items ?? []).map((text) => el('li', { text })));
  items.hidden = !options.items?.length;
  byId('confirm-ok').textContent = options.confirmLabel;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      opener?.focus();
      resolve(dialog.returnValue === 'ok');
    }, { once: true });
    dialog.showModal();
    byId('confirm-cancel').focus();
  });
}
