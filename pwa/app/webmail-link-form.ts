// An account's webmail link on the accounts screen: the URL template (`webmailUrl`) from which the
// message view makes "Open in webmail", set or cleared here. The template is checked with the
// protocol's own rule before it is sent, so the person reads why in their language; the gateway
// checks it again (and answers invalid_request) for any other client.

import { describeError, type Account, type Api } from './api.js';
import { el, say } from './dom.js';
import { t } from './i18n.js';
import { WEBMAIL_PLACEHOLDERS, webmailTemplateProblem } from '../../src/protocol/messages.js';

export interface WebmailLinkDeps {
  api: Api;
  onSaved(updated: Account, cleared: boolean): void;
}

export function webmailLinkForm(account: Account, deps: WebmailLinkDeps): HTMLFormElement {
  const inputId = `webmail-${account.id}`;
  const hintId = `webmail-hint-${account.id}`;
  const input = el('input', { attrs: { id: inputId, type: 'url', inputmode: 'url', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': hintId, placeholder: 'https://webmail.example.com/?_mbox={mailbox}&_uid={uid}' } });
  input.value = account.webmailUrl ?? '';
  const error = el('p', { class: 'error', attrs: { role: 'alert' } });
  error.hidden = true;
  const save = el('button', { class: 'primary', text: t('webmail.save'), attrs: { type: 'submit' } });
  const clear = account.webmailUrl !== undefined && el('button', { class: 'secondary', text: t('webmail.clear'), attrs: { type: 'button' } });
  const form = el('form', { class: 'webmail-form', attrs: { id: `webmail-form-${account.id}`, 'aria-label': t('webmail.formLabel', { email: account.email }), novalidate: '' } },
    el('p', { class: 'hint', text: t('webmail.lead') }),
    el('div', { class: 'field' },
      el('label', { text: t('webmail.label'), attrs: { for: inputId } }),
      input,
      el('p', { class: 'hint', text: t('webmail.placeholders', { uid: WEBMAIL_PLACEHOLDERS[0], mailbox: WEBMAIL_PLACEHOLDERS[1] }), attrs: { id: hintId } })),
    error,
    el('div', { class: 'actions' }, save, clear));
  const send = (template: string | null) => {
    save.disabled = true;
    if (clear) clear.disabled = true;
    deps.api.setWebmailUrl(account.id, template).then((updated) => deps.onSaved(updated, template === null), (failure: unknown) => {
      say(error, describeError(failure));
      save.disabled = false;
      if (clear) clear.disabled = false;
    });
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const template = input.value.trim();
    if (!template) return send(null);
    if (webmailTemplateProblem(template) !== undefined) return say(error, t('webmail.invalid', { uid: WEBMAIL_PLACEHOLDERS[0], mailbox: WEBMAIL_PLACEHOLDERS[1] }));
    send(template);
  });
  if (clear) clear.addEventListener('click', () => send(null));
  return form;
}
