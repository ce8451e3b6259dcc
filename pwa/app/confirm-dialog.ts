// One modal <dialog> for every "are you sure?" (removing a device, deleting everything): showModal()
// makes the rest of the page inert and keeps Tab inside; Escape cancels. Focus starts on Cancel, so a
// stray Enter never destroys anything, and returns to the control that opened the dialog.
//
// The answer is read when the dialog's `close` event arrives, and that event is queued, not fired at
// once: Chromium (156.0.8078.114) delivers the one for an Escape only after a quick Enter has shown the
// dialog again. So one listener serves every question, a close event that finds the dialog open again
// is a stale one and ignored, and a question still waiting for its event when the next is asked is
// answered first, from the returnValue its closing left.

import { byId, el } from './dom.js';

export interface ConfirmOptions {
  title: string;
  message: string;
  /** What will go, one line each. */
  items?: string[];
  confirmLabel: string;
}

interface Question {
  resolve(confirmed: boolean): void;
  opener: HTMLElement | undefined;
}

let waiting: Question | undefined;
let listening = false;

function answer(dialog: HTMLDialogElement, restoreFocus: boolean): void {
  const question = waiting;
  if (!question) return;
  waiting = undefined;
  if (restoreFocus) question.opener?.focus();
  question.resolve(dialog.returnValue === 'ok');
}

export function confirmDialog(options: ConfirmOptions): Promise<boolean> {
  const dialog = byId<HTMLDialogElement>('confirm-dialog');
  if (!listening) {
    dialog.addEventListener('close', () => { if (!dialog.open) answer(dialog, true); });
    listening = true;
  }
  // The previous question's dialog is closed but its event not yet here: its answer is final already.
  answer(dialog, false);
  const opener = document.activeElement instanceof HTMLElement ? document.activeElement : undefined;
  byId('confirm-title').textContent = options.title;
  byId('confirm-message').textContent = options.message;
  const items = byId('confirm-items');
  items.replaceChildren(...(options.items ?? []).map((text) => el('li', { text })));
  items.hidden = !options.items?.length;
  byId('confirm-ok').textContent = options.confirmLabel;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    waiting = { resolve, opener };
    dialog.showModal();
    byId('confirm-cancel').focus();
  });
}
