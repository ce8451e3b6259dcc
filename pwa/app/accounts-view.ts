// The accounts screen: every mailbox with its live state and unread count, a way to give a new
// password (after an auth failure, say), to choose the folders to watch and to remove the mailbox.
// A mailbox signed in with a provider (OAuth) has no password here: it shows the provider and,
// when the sign-in no longer works, offers to sign in there again; each provider the gateway has
// on offers "Add a <name> mailbox". Every mailbox can have a link to its webmail (webmail-link-form.ts).

import { Api, describeError, type Account, type AccountState, type OAuthProviderView } from './api.js';
import { byId, el, say } from './dom.js';
import { folderChooser, loadFolders, newFolderChoice, type FolderChoice } from './folder-chooser.js';
import { t, type PlainKey } from './i18n.js';
import { goToProvider, providerButtons, providerName } from './oauth-sign-in.js';
import { webmailLinkForm } from './webmail-link-form.js';

const STATE_LABELS: Record<AccountState, PlainKey> = {
  connecting: 'accounts.state.connecting',
  idle: 'accounts.state.idle',
  polling: 'accounts.state.polling',
  reconnecting: 'accounts.state.reconnecting',
  auth_failed: 'accounts.state.authFailed',
  reauth_required: 'accounts.state.reauthRequired',
  error: 'accounts.state.error',
  disabled: 'accounts.state.disabled',
};

export interface AccountsViewOptions {
  api: Api;
  /** After a change, so the rest of the app sees it. */
  onChanged(account: Account): void;
  onRemoved(accountId: string): void;
  /** The sign-in providers the gateway has on (GET /v1/config), for their names and buttons. */
  providers(): readonly OAuthProviderView[];
}

export class AccountsView {
  private readonly list = byId<HTMLUListElement>('accounts');
  private readonly message = byId('accounts-message');
  private readonly providerSlot = byId('accounts-providers');
  /** Password forms the user opened survive a redraw (the state of an account changes live). */
  private readonly openForms = new Set<string>();
  /** Open folder choosers, by account, with what was chosen: they survive a redraw too. */
  private readonly folderChoices = new Map<string, FolderChoice>();
  /** Accounts whose webmail link form is open: it survives a redraw too. */
  private readonly openWebmailForms = new Set<string>();
  private shown: readonly Account[] = [];

  constructor(private readonly options: AccountsViewOptions) {}

  render(accounts: readonly Account[]): void {
    this.shown = accounts;
    // Keep focus where it was across a redraw: state changes arrive while someone is typing.
    const focusedId = document.activeElement?.id;
    const typed = new Map<string, string>();
    // What is typed (a password, a webmail link) survives it too.
    this.list.querySelectorAll<HTMLInputElement>('input[type=password], input[type=url]').forEach((input) => typed.set(input.id, input.value));
    this.list.replaceChildren(...accounts.map((account) => this.item(account)));
    typed.forEach((value, id) => {
      const input = document.getElementById(id) as HTMLInputElement | null;
      if (input) input.value = value;
    });
    if (focusedId) document.getElementById(focusedId)?.focus();
    if (accounts.length === 0) this.list.append(el('li', { class: 'empty', text: t('accounts.none') }));
    this.providerSlot.replaceChildren(...providerButtons({
      api: this.options.api,
      providers: this.options.providers(),
      label: 'register.oauthAdd',
      onFailure: (message) => this.notify(message),
    }));
  }

  notify(message: string | undefined, tone?: 'ok'): void {
    say(this.message, message, tone);
  }

  private item(account: Account): HTMLLIElement {
    if (account.auth === 'oauth2') return this.oauthItem(account);
    const id = account.id;
    const node = el('li', { class: 'account', attrs: { 'data-account-id': id } },
      this.head(account, `${account.imap.host}:${account.imap.port} · ${account.mailboxes.join(', ')}`,
        account.state in STATE_LABELS ? t(STATE_LABELS[account.state]) : account.state),
      account.state === 'auth_failed' && el('p', { class: 'account-error', text: t('accounts.passwordRejected') }),
      account.state === 'error' && account.lastError !== undefined && el('p', { class: 'account-error', text: account.lastError }),
    );
    const fix = el('button', { class: 'secondary', text: t('accounts.changePassword'), attrs: { type: 'button', 'aria-expanded': 'false', 'aria-controls': `password-form-${id}` } });
    const remove = el('button', { class: 'danger', text: t('accounts.remove'), attrs: { type: 'button', 'aria-label': t('accounts.removeLabel', { email: account.email }) } });
    const folders = this.foldersButton(account);
    const [webmailButton, webmailForm] = this.webmailLink(account);
    node.append(el('div', { class: 'actions' }, fix, folders, webmailButton, remove));
    const form = this.passwordForm(account);
    node.append(form);
    this.appendFolderChooser(node, account);
    if (webmailForm) node.append(webmailForm);
    const setOpen = (open: boolean) => {
      form.hidden = !open;
      fix.setAttribute('aria-expanded', String(open));
      if (open) this.openForms.add(id);
      else this.openForms.delete(id);
    };
    setOpen(this.openForms.has(id) || account.state === 'auth_failed');
    fix.addEventListener('click', () => {
      setOpen(form.hidden !== false); // hidden is also "until-found" in the DOM types
      if (!form.hidden) form.querySelector('input')?.focus();
    });
    remove.addEventListener('click', () => void this.remove(account, remove));
    return node;
  }

  /** The shared head of an item: address, server, state and unread count. */
  private head(account: Account, server: string, stateLabel: string): HTMLDivElement {
    return el('div', { class: 'account-head' },
      el('div', {},
        el('p', { class: 'account-email', text: account.email }),
        el('p', { class: 'account-server', text: server })),
      el('div', { class: 'account-facts' },
        el('span', { class: 'state', text: stateLabel, attrs: { 'data-state': account.state } }),
        el('span', { class: 'unread', text: t('accounts.unread', { count: account.unseen ?? 0 }) })));
  }

  /** A mailbox signed in with a provider: never a password field; "sign in again" when the sign-in stopped working. */
  private oauthItem(account: Account): HTMLLIElement {
    const name = providerName(this.options.providers(), account.provider);
    // Refused with the stored token, or the provider withdrew the grant: only a new sign-in helps.
    const refused = account.state === 'auth_failed' || account.state === 'reauth_required';
    const stateLabel = account.state === 'auth_failed' ? t('accounts.state.authFailedOAuth') : account.state in STATE_LABELS ? t(STATE_LABELS[account.state]) : account.state;
    const signInAgain = refused && el('button', { class: 'primary', text: t('accounts.signInAgain', { name }), attrs: { type: 'button' } });
    if (signInAgain) {
      signInAgain.addEventListener('click', () => {
        signInAgain.disabled = true;
        goToProvider(this.options.api, account.provider ?? '', account.email).catch((error: unknown) => {
          this.notify(describeError(error));
          signInAgain.disabled = false;
        });
      });
    }
    const remove = el('button', { class: 'danger', text: t('accounts.remove'), attrs: { type: 'button', 'aria-label': t('accounts.removeLabel', { email: account.email }) } });
    remove.addEventListener('click', () => void this.remove(account, remove));
    const [webmailButton, webmailForm] = this.webmailLink(account);
    const node = el('li', { class: 'account', attrs: { 'data-account-id': account.id, 'data-auth': 'oauth2' } },
      this.head(account, `${t('accounts.signedInWith', { name })} · ${account.mailboxes.join(', ')}`, stateLabel),
      refused && el('p', { class: 'account-error', text: t('accounts.oauthRejected', { name }) }),
      account.state === 'error' && account.lastError !== undefined && el('p', { class: 'account-error', text: account.lastError }),
      el('div', { class: 'actions' }, signInAgain, this.foldersButton(account), webmailButton, remove));
    this.appendFolderChooser(node, account);
    if (webmailForm) node.append(webmailForm);
    return node;
  }

  /** "Webmail link", which opens or closes the account's webmail link form (the form when open). */
  private webmailLink(account: Account): [HTMLButtonElement, HTMLFormElement | undefined] {
    const open = this.openWebmailForms.has(account.id);
    const button = el('button', { class: 'secondary', text: t('webmail.open'), attrs: { type: 'button', 'aria-expanded': String(open), 'aria-controls': `webmail-form-${account.id}` } });
    button.addEventListener('click', () => {
      if (!this.openWebmailForms.delete(account.id)) this.openWebmailForms.add(account.id);
      this.render(this.shown);
      if (this.openWebmailForms.has(account.id)) document.getElementById(`webmail-${account.id}`)?.focus();
    });
    const form = open ? webmailLinkForm(account, {
      api: this.options.api,
      onSaved: (updated, cleared) => {
        this.openWebmailForms.delete(account.id);
        this.notify(t(cleared ? 'webmail.cleared' : 'webmail.saved', { email: updated.email }), 'ok');
        this.options.onChanged(updated);
      },
    }) : undefined;
    return [button, form];
  }

  /** "Choose folders", which opens or closes the account's folder chooser. */
  private foldersButton(account: Account): HTMLButtonElement {
    const open = this.folderChoices.has(account.id);
    const button = el('button', { class: 'secondary', text: t('folders.choose'), attrs: { type: 'button', 'aria-expanded': String(open), 'aria-controls': `folders-form-${account.id}` } });
    button.addEventListener('click', () => this.toggleFolders(account));
    return button;
  }

  private appendFolderChooser(node: HTMLLIElement, account: Account): void {
    const choice = this.folderChoices.get(account.id);
    if (choice) node.append(folderChooser(account, choice, this.folderDeps(account)));
  }

  private toggleFolders(account: Account): void {
    if (this.folderChoices.delete(account.id)) return this.render(this.shown);
    const choice = newFolderChoice(account);
    this.folderChoices.set(account.id, choice);
    loadFolders(account, choice, this.folderDeps(account));
    this.render(this.shown);
  }

  private folderDeps(account: Account) {
    return {
      api: this.options.api,
      redraw: () => this.render(this.shown),
      onSaved: (updated: Account) => {
        this.folderChoices.delete(account.id);
        this.notify(t('folders.saved', { email: updated.email }), 'ok');
        this.options.onChanged(updated);
      },
    };
  }

  private passwordForm(account: Account): HTMLFormElement {
    const inputId = `password-${account.id}`;
    const input = el('input', { attrs: { id: inputId, type: 'password', autocomplete: 'current-password', required: '' } });
    const error = el('p', { class: 'error', attrs: { role: 'alert' } });
    error.hidden = true;
    const save = el('button', { class: 'primary', text: t('accounts.savePassword'), attrs: { type: 'submit' } });
    const form = el('form', { class: 'password-form', attrs: { id: `password-form-${account.id}`, novalidate: '' } },
      el('div', { class: 'field' }, el('label', { text: t('accounts.newPasswordLabel', { email: account.email }), attrs: { for: inputId } }), input),
      error,
      el('div', { class: 'actions' }, save));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (!input.value) return say(error, t('accounts.needNewPassword'));
      save.disabled = true;
      this.options.api.changePassword(account.id, input.value).then((updated) => {
        this.openForms.delete(account.id);
        this.notify(t('accounts.passwordWorks', { email: updated.email }), 'ok');
        this.options.onChanged(updated);
      }, (failure: unknown) => {
        say(error, describeError(failure));
        save.disabled = false;
      });
    });
    return form;
  }

  private async remove(account: Account, button: HTMLButtonElement): Promise<void> {
    if (!confirm(t('accounts.confirmRemove', { email: account.email }))) return;
    button.disabled = true;
    try {
      await this.options.api.removeAccount(account.id);
      this.notify(t('accounts.removed', { email: account.email }), 'ok');
      this.options.onRemoved(account.id);
    } catch (error) {
      this.notify(describeError(error));
      button.disabled = false;
    }
  }
}
