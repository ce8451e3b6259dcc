// An account's folder chooser on the accounts screen: the folders its IMAP server lists (asked
// through the gateway when the chooser opens), INBOX always on, at most as many as that server
// allows (more when it has NOTIFY; the gateway says how many).

import { describeError, type Account, type AccountFolders, type Api } from './api.js';
import { el, say } from './dom.js';
import { t } from './i18n.js';

/** What the person chose so far: kept by the accounts screen across its live redraws. */
export interface FolderChoice {
  listed?: AccountFolders;
  /** Why the folders could not be listed. */
  failure?: string;
  chosen: Set<string>;
}

export interface FolderChooserDeps {
  api: Api;
  /** Draw the screen again (the folders arrived). */
  redraw(): void;
  onSaved(updated: Account): void;
}

const INBOX = 'INBOX';

export function newFolderChoice(account: Account): FolderChoice {
  return { chosen: new Set([INBOX, ...account.mailboxes]) };
}

/** Asks for the folders once per opening; the answer lands in `choice`. */
export function loadFolders(account: Account, choice: FolderChoice, deps: FolderChooserDeps): void {
  deps.api.folders(account.id).then((listed) => {
    choice.listed = listed;
    deps.redraw();
  }, (failure: unknown) => {
    choice.failure = describeError(failure);
    deps.redraw();
  });
}

export function folderChooser(account: Account, choice: FolderChoice, deps: FolderChooserDeps): HTMLFormElement {
  const form = el('form', { class: 'folders-form', attrs: { id: `folders-form-${account.id}`, 'aria-label': t('folders.chooseLabel', { email: account.email }), novalidate: '' } });
  const { listed } = choice;
  if (!listed) {
    form.append(choice.failure !== undefined
      ? el('p', { class: 'error', text: choice.failure, attrs: { role: 'alert' } })
      : el('p', { class: 'hint', text: t('folders.loading'), attrs: { role: 'status' } }));
    return form;
  }
  const boxes = listed.folders.map((folder, index) => {
    const id = `folder-${account.id}-${index}`;
    const box = el('input', { attrs: { id, type: 'checkbox', value: folder.name } });
    box.checked = folder.name === INBOX || choice.chosen.has(folder.name);
    box.disabled = folder.name === INBOX;
    box.addEventListener('change', () => {
      if (box.checked) choice.chosen.add(folder.name);
      else choice.chosen.delete(folder.name);
    });
    return el('label', { class: 'folder', attrs: { for: id } }, box, ` ${folder.name}${folder.name === INBOX ? ` ${t('folders.inboxAlways')}` : ''}`);
  });
  const error = el('p', { class: 'error', attrs: { role: 'alert' } });
  error.hidden = true;
  const save = el('button', { class: 'primary', text: t('folders.save'), attrs: { type: 'submit' } });
  form.append(
    el('fieldset', {}, el('legend', { text: t('folders.legend') }), ...boxes),
    el('p', { class: 'hint', text: t('folders.limit', { count: listed.maxMailboxes }) }),
  );
  if (listed.truncated) form.append(el('p', { class: 'hint', text: t('folders.truncated') }));
  form.append(error, el('div', { class: 'actions' }, save));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    // In the server's order, INBOX first; a watched folder the list did not show (cut short) stays.
    const order = listed.folders.map((f) => f.name);
    const rank = (name: string) => (name === INBOX ? -1 : order.includes(name) ? order.indexOf(name) : order.length);
    const mailboxes = [...choice.chosen].sort((a, b) => rank(a) - rank(b));
    if (mailboxes.length > listed.maxMailboxes) return say(error, t('folders.tooMany', { count: listed.maxMailboxes }));
    save.disabled = true;
    deps.api.setMailboxes(account.id, mailboxes).then(deps.onSaved, (failure: unknown) => {
      say(error, describeError(failure));
      save.disabled = false;
    });
  });
  return form;
}
