// The devices screen: every device signed in to this user, with its name, when it was last seen
// and which one this is; rename, remove (after a confirmation), and "Add a device", which asks for a
// pairing code and shows it as text in groups, as a QR code of its link, and counting down to expiry.

import { Api, describeError, type DeviceView, type PairingView } from './api.js';
import { confirmDialog } from './confirm-dialog.js';
import { byId, el, say } from './dom.js';
import { formatCountdown, fullTime, relativeTime, t } from './i18n.js';
import { qrCodeSvg } from './qr-code.js';

/** While a code is shown, the list is asked again this often, so the new device shows up by itself. */
const WATCH_FOR_NEW_DEVICE_MS = 3000;

/** Longest name the gateway takes (DEVICE_NAME_MAX_LENGTH in src/protocol/devices.ts). */
const NAME_MAX_LENGTH = '64';

/** "K7M3QX9PRT" → "K7M3Q X9PRT": two groups of five are easier to read out and type. */
export function groupCode(code: string): string {
  return code.match(/.{1,5}/g)?.join(' ') ?? code;
}

export interface DevicesViewOptions {
  api: Api;
  /** This device was removed from here: sign it out like "Sign out of this device". */
  onRemovedCurrent(): void;
}

export class DevicesView {
  private readonly list = byId<HTMLUListElement>('devices');
  private readonly message = byId('devices-message');
  private readonly add = byId<HTMLButtonElement>('devices-add');
  private readonly panel = byId('pairing-panel');
  private devices: DeviceView[] = [];
  private renaming: string | undefined;
  private pairing: PairingView | undefined;
  private countdown: ReturnType<typeof setInterval> | undefined;
  private watch: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly options: DevicesViewOptions) {
    this.add.addEventListener('click', () => void this.showPairing());
    byId('pairing-new').addEventListener('click', () => void this.showPairing());
    byId('pairing-close').addEventListener('click', () => {
      this.hidePairing();
      this.add.focus();
      void this.load(); // the new device is likely on the list now
    });
  }

  async load(): Promise<void> {
    try {
      this.devices = await this.options.api.devices();
      this.render();
    } catch (error) {
      this.notify(describeError(error));
    }
  }

  /** Leaving the screen: the code stays valid on the gateway, but nobody is looking at it. */
  leave(): void {
    this.hidePairing();
  }

  /** After a change of language. */
  render(): void {
    const focusedId = document.activeElement?.id;
    this.list.replaceChildren(...this.devices.map((device) => this.item(device)));
    if (focusedId) document.getElementById(focusedId)?.focus();
    if (this.pairing) this.drawPairingText(this.pairing);
  }

  notify(message: string | undefined, tone?: 'ok'): void {
    say(this.message, message, tone);
  }

  private item(device: DeviceView): HTMLLIElement {
    const node = el('li', { class: 'device', attrs: { 'data-device-id': device.id } },
      el('div', { class: 'device-head' },
        el('p', { class: 'device-name', text: device.name }),
        device.current && el('span', { class: 'badge', text: t('devices.thisDevice') })),
      el('p', { class: 'device-facts' },
        el('time', { text: t('devices.lastSeen', { when: relativeTime(device.lastSeenAt) }), attrs: { datetime: device.lastSeenAt, title: fullTime(device.lastSeenAt) } }),
        ' · ',
        el('time', { text: t('devices.added', { when: relativeTime(device.createdAt) }), attrs: { datetime: device.createdAt, title: fullTime(device.createdAt) } })));
    if (this.renaming === device.id) {
      node.append(this.renameForm(device));
      return node;
    }
    const rename = el('button', { class: 'secondary', text: t('devices.rename'), attrs: { type: 'button', id: `rename-${device.id}`, 'aria-label': t('devices.renameLabel', { name: device.name }) } });
    const remove = el('button', { class: 'danger', text: t('devices.remove'), attrs: { type: 'button', id: `remove-${device.id}`, 'aria-label': t('devices.removeLabel', { name: device.name }) } });
    rename.addEventListener('click', () => {
      this.renaming = device.id;
      this.render();
      document.getElementById(`name-${device.id}`)?.focus();
    });
    remove.addEventListener('click', () => void this.remove(device, remove));
    node.append(el('div', { class: 'actions' }, rename, remove));
    return node;
  }

  private renameForm(device: DeviceView): HTMLFormElement {
    const inputId = `name-${device.id}`;
    const input = el('input', { attrs: { id: inputId, type: 'text', maxlength: NAME_MAX_LENGTH, autocomplete: 'off', required: '' } });
    input.value = device.name;
    const error = el('p', { class: 'error', attrs: { role: 'alert' } });
    error.hidden = true;
    const cancel = el('button', { class: 'secondary', text: t('devices.cancel'), attrs: { type: 'button' } });
    const form = el('form', { class: 'rename-form', attrs: { novalidate: '' } },
      el('div', { class: 'field' }, el('label', { text: t('devices.nameLabel', { name: device.name }), attrs: { for: inputId } }), input),
      error,
      el('div', { class: 'actions' }, el('button', { class: 'primary', text: t('devices.save'), attrs: { type: 'submit' } }), cancel));
    const close = () => {
      this.renaming = undefined;
      this.render();
      document.getElementById(`rename-${device.id}`)?.focus();
    };
    cancel.addEventListener('click', close);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const name = input.value.trim();
      if (!name) return say(error, t('devices.needName'));
      this.options.api.renameDevice(device.id, name).then((renamed) => {
        this.devices = this.devices.map((d) => (d.id === renamed.id ? renamed : d));
        this.notify(t('devices.renamed', { name: renamed.name }), 'ok');
        close();
      }, (failure: unknown) => say(error, describeError(failure)));
    });
    return form;
  }

  private async remove(device: DeviceView, button: HTMLButtonElement): Promise<void> {
    const confirmed = await confirmDialog({
      title: t('devices.confirmRemoveTitle', { name: device.name }),
      message: t('devices.confirmRemove', { name: device.name }),
      confirmLabel: t('devices.remove'),
    });
    if (!confirmed) return;
    if (device.current) return this.options.onRemovedCurrent();
    button.disabled = true;
    try {
      await this.options.api.removeDevice(device.id);
      this.devices = this.devices.filter((d) => d.id !== device.id);
      this.render();
      this.notify(t('devices.removed', { name: device.name }), 'ok');
      this.list.closest('section')?.querySelector('h2')?.focus();
    } catch (error) {
      this.notify(describeError(error));
      button.disabled = false;
    }
  }

  private async showPairing(): Promise<void> {
    say(byId('pairing-error'), undefined);
    try {
      this.pairing = await this.options.api.createPairing();
    } catch (error) {
      this.panel.hidden = false;
      say(byId('pairing-error'), describeError(error));
      return;
    }
    const pairing = this.pairing;
    byId('pairing-qr').replaceChildren(await qrCodeSvg(pairing.url));
    this.panel.hidden = false;
    this.add.setAttribute('aria-expanded', 'true');
    this.add.hidden = true;
    this.drawPairingText(pairing);
    clearInterval(this.countdown);
    this.countdown = setInterval(() => this.drawPairingText(pairing), 1000);
    clearInterval(this.watch);
    const known = new Set(this.devices.map((d) => d.id));
    this.watch = setInterval(() => void this.lookForNewDevice(known), WATCH_FOR_NEW_DEVICE_MS);
    byId('pairing-title').focus();
  }

  /** The code was claimed: the new device joins the list, and the code (used up) goes away. */
  private async lookForNewDevice(known: ReadonlySet<string>): Promise<void> {
    let devices: DeviceView[];
    try {
      devices = await this.options.api.devices();
    } catch {
      return; // offline for a moment: the next round asks again
    }
    const added = devices.find((d) => !known.has(d.id));
    if (!added || !this.pairing) return;
    this.devices = devices;
    this.hidePairing();
    this.render();
    this.notify(t('devices.paired', { name: added.name }), 'ok');
    this.add.focus();
  }

  private drawPairingText(pairing: PairingView): void {
    const left = (Date.parse(pairing.expiresAt) - Date.now()) / 1000;
    const expired = left <= 0;
    byId('pairing-code').textContent = groupCode(pairing.code);
    byId('pairing-expiry').textContent = expired ? t('devices.expired') : t('devices.expiresIn', { time: formatCountdown(left) });
    byId('pairing-qr').hidden = expired;
    byId('pairing-code').parentElement!.hidden = expired;
    byId('pairing-new').hidden = !expired;
    if (expired) {
      clearInterval(this.countdown);
      clearInterval(this.watch);
    }
  }

  private hidePairing(): void {
    clearInterval(this.countdown);
    clearInterval(this.watch);
    this.pairing = undefined;
    this.panel.hidden = true;
    this.add.hidden = false;
    this.add.setAttribute('aria-expanded', 'false');
    byId('pairing-qr').replaceChildren();
  }
}
