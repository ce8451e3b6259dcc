// This device's share of the settings: which mailboxes notify it (its push subscription's
// `accounts`; empty on the gateway means all of them), pausing a mailbox for every device (the
// account's `disabled`), and "Delete my data", which names what goes before it erases it.

import { Api, describeError, type Account } from './api.js';
import { confirmDialog } from './confirm-dialog.js';
import { deviceStore } from './device-store.js';
import { byId, el, say } from './dom.js';
import { t } from './i18n.js';
import type { Notifications } from './notifications.js';

export interface SettingsViewOptions {
  api: Api;
  notifications: Notifications;
  /** An account changed here (paused or resumed). */
  onAccountChanged(account: Account): void;
  /** Just before asking the gateway to erase this user, and if it did not. */
  onDeleting(): void;
  onDeleteFailed(): void;
  /** The gateway erased this user: back to the first screen. */
  onDeleted(): void;
}

export class SettingsView {
  private readonly list = byId<HTMLUListElement>('settings-accounts');
  private readonly message = byId('settings-accounts-message');
  private readonly deleteButton = byId<HTMLButtonElement>('delete-data');
  private accounts: Account[] = [];
  /** The accounts this device's subscription names; undefined while there is no subscription. */
  private notified: string[] | undefined;

  constructor(private readonly options: SettingsViewOptions) {
    this.deleteButton.addEventListener('click', () => void this.deleteMyData());
  }

  /** Reads this device's subscription from the gateway, then draws the list. */
  async load(accounts: Account[]): Promise<void> {
    this.accounts = accounts;
    const id = deviceStore.subscriptionId();
    this.notified = undefined;
    if (id) {
      try {
        this.notified = (await this.options.api.subscriptions()).find((s) => s.id === id)?.accounts;
      } catch {
        // Offline: the checkboxes stay off until the next visit to this screen.
      }
    }
    this.render(accounts);
  }

  render(accounts: Account[] = this.accounts): void {
    this.accounts = accounts;
    const focusedId = document.activeElement?.id;
    this.list.replaceChildren(...accounts.map((account) => this.item(account)));
    if (this.notified === undefined && accounts.length > 0) this.list.append(el('li', { class: 'hint', text: t('settings.notifyNeedsPush') }));
    if (focusedId) document.getElementById(focusedId)?.focus();
  }

  private item(account: Account): HTMLLIElement {
    const checkboxId = `notify-${account.id}`;
    const checkbox = el('input', { attrs: { id: checkboxId, type: 'checkbox' } });
    checkbox.checked = this.notified !== undefined && (this.notified.length === 0 || this.notified.includes(account.id));
    checkbox.disabled = this.notified === undefined;
    checkbox.addEventListener('change', () => void this.changeNotified(account.id, checkbox));
    const paused = account.state === 'disabled';
    const pause = el('button', {
      class: 'secondary', text: t(paused ? 'settings.resume' : 'settings.pause'),
      attrs: { type: 'button', id: `pause-${account.id}`, 'aria-label': t(paused ? 'settings.resumeLabel' : 'settings.pauseLabel', { email: account.email }) },
    });
    pause.addEventListener('click', () => void this.setPaused(account, !paused, pause));
    return el('li', { class: 'settings-account', attrs: { 'data-account-id': account.id } },
      el('div', { class: 'check' }, checkbox, el('label', { text: t('settings.notifyAccount', { email: account.email }), attrs: { for: checkboxId } })),
      pause);
  }

  private async changeNotified(accountId: string, checkbox: HTMLInputElement): Promise<void> {
    const all = this.accounts.map((a) => a.id);
    const current = this.notified?.length ? this.notified : all;
    const next = checkbox.checked ? [...new Set([...current, accountId])] : current.filter((id) => id !== accountId);
    say(this.message, undefined);
    try {
      if (next.length === 0) {
        // "Empty" means every account to the gateway: no mailbox at all is notifications off.
        await this.options.notifications.turnOff();
        deviceStore.setSubscriptionId(undefined);
        this.notified = undefined;
        await this.options.notifications.refresh(true);
      } else {
        this.notified = (await this.options.notifications.setAccounts(next.length === all.length ? [] : next)) ?? this.notified;
      }
    } catch (error) {
      say(this.message, describeError(error));
    }
    this.render();
  }

  private async setPaused(account: Account, paused: boolean, button: HTMLButtonElement): Promise<void> {
    button.disabled = true;
    try {
      const updated = await this.options.api.setAccountDisabled(account.id, paused);
      say(this.message, t(paused ? 'settings.paused' : 'settings.resumed', { email: updated.email }), 'ok');
      this.options.onAccountChanged(updated);
    } catch (error) {
      say(this.message, describeError(error));
      button.disabled = false;
    }
  }

  private async deleteMyData(): Promise<void> {
    say(byId('delete-error'), undefined);
    let deviceCount = 1;
    try {
      deviceCount = (await this.options.api.devices()).length;
    } catch {
      // Offline: the gateway will refuse the deletion too; the dialog still says what would go.
    }
    const confirmed = await confirmDialog({
      title: t('settings.confirmDeleteTitle'),
      message: t('settings.confirmDelete'),
      items: [
        t('settings.deleteAccounts', { count: this.accounts.length }),
        t('settings.deleteEvents'),
        t('settings.deleteDevices', { count: deviceCount }),
        t('settings.deleteSubscriptions'),
      ],
      confirmLabel: t('settings.deleteConfirm'),
    });
    if (!confirmed) return;
    this.deleteButton.disabled = true;
    this.options.onDeleting();
    try {
      await this.options.api.deleteMyData();
      this.options.onDeleted();
    } catch (error) {
      this.options.onDeleteFailed();
      say(byId('delete-error'), describeError(error));
    } finally {
      this.deleteButton.disabled = false;
    }
  }
}
