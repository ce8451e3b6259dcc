// Web Push on this device: one button asks for permission, subscribes with the gateway's VAPID
// key and registers the subscription; the preview level is sent along and can be changed later
// (posting the same endpoint again updates it).

import { Api, describeError, type Preview, type PushSubscriptionView } from './api.js';
import { deviceStore } from './device-store.js';
import { byId, say } from './dom.js';
import { t } from './i18n.js';
import { pushAvailability, tooOldIosText } from './install-guide.js';

/** The VAPID key arrives base64url; PushManager wants the raw bytes. */
function base64UrlToBytes(value: string): Uint8Array<ArrayBuffer> {
  const base64 = value.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(value.length / 4) * 4, '=');
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function sameBytes(a: ArrayBuffer | null | undefined, b: Uint8Array): boolean {
  if (!a || a.byteLength !== b.length) return false;
  const view = new Uint8Array(a);
  return view.every((byte, i) => byte === b[i]);
}

export class Notifications {
  private readonly card = byId('push-card');
  private readonly state = byId('push-state');
  private readonly previewField = byId('push-preview-field');
  private readonly enable = byId<HTMLButtonElement>('push-enable');
  private readonly preview = byId<HTMLSelectElement>('push-preview');
  private readonly error = byId('push-error');

  constructor(private readonly api: Api) {
    this.preview.value = deviceStore.preview();
    this.enable.addEventListener('click', () => void this.turnOn());
    this.preview.addEventListener('change', () => void this.changePreview(this.preview.value as Preview));
  }

  static supported(): boolean {
    return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
  }

  /**
   * Reflects the device's current permission and subscription. Never asks for permission itself:
   * browsers (Safari on iOS above all) allow that only from a tap, so only the button does.
   */
  async refresh(pushEnabledOnGateway: boolean): Promise<void> {
    const availability = pushAvailability();
    // In a Safari tab on iOS the install guide stands in for the whole card: nothing here could work.
    this.card.hidden = pushEnabledOnGateway && availability.kind === 'install-first';
    this.previewField.hidden = !pushEnabledOnGateway || availability.kind !== 'available';
    if (!pushEnabledOnGateway) return this.show(t('settings.pushNotOnGateway'), false);
    if (availability.kind === 'install-first') return;
    if (availability.kind === 'update-ios') return this.show(tooOldIosText(availability.iosVersion) ?? t('install.needsIos164'), false);
    if (availability.kind === 'unsupported') return this.show(t('settings.pushClosedUnsupported'), false);
    if (Notification.permission === 'denied') return this.show(t('settings.pushBlocked'), false);
    const registration = await navigator.serviceWorker.getRegistration();
    const subscribed = Boolean(deviceStore.subscriptionId() && (await registration?.pushManager.getSubscription()));
    this.show(t(subscribed ? 'settings.pushOn' : 'settings.pushOff'), !subscribed);
  }

  private show(text: string, offerButton: boolean): void {
    this.state.textContent = text;
    this.enable.hidden = !offerButton;
  }

  async turnOn(): Promise<void> {
    say(this.error, undefined);
    this.enable.disabled = true;
    try {
      if (!Notifications.supported()) throw new Error(t('settings.pushUnsupportedShort'));
      const permission = await Notification.requestPermission();
      if (permission !== 'granted') throw new Error(t('settings.pushNotAllowed'));
      await this.subscribe(this.preview.value as Preview);
      this.show(t('settings.pushOn'), false);
    } catch (error) {
      say(this.error, describeError(error));
    } finally {
      this.enable.disabled = false;
    }
  }

  /**
   * Subscribes (or reuses the subscription made with the same key) and registers it. `accounts`:
   * the mailboxes that notify this device ([] all); left out, the ones it named before are kept.
   */
  private async subscribe(preview: Preview, accounts?: string[]): Promise<PushSubscriptionView> {
    const registration = await navigator.serviceWorker.ready;
    const key = base64UrlToBytes(await this.api.vapidPublicKey());
    let subscription = await registration.pushManager.getSubscription();
    if (subscription && !sameBytes(subscription.options?.applicationServerKey, key)) {
      // Made with another key (the gateway's keys changed): it cannot receive our pushes.
      await subscription.unsubscribe();
      subscription = null;
    }
    subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
    const json = subscription.toJSON();
    if (!json.endpoint || !json.keys?.p256dh || !json.keys.auth) throw new Error(t('settings.pushIncomplete'));
    // Posting again replaces the whole subscription, `accounts` too: keep the choice made in Settings.
    const previousId = deviceStore.subscriptionId();
    accounts ??= previousId ? (await this.api.subscriptions()).find((s) => s.id === previousId)?.accounts : undefined;
    const saved = await this.api.subscribe({ endpoint: json.endpoint, expirationTime: json.expirationTime ?? null, keys: { p256dh: json.keys.p256dh, auth: json.keys.auth } }, preview, accounts);
    deviceStore.setSubscriptionId(saved.id);
    deviceStore.setPreview(saved.preview);
    return saved;
  }

  /** Which mailboxes notify this device ([] all of them); answers the list the gateway saved. */
  async setAccounts(accounts: string[]): Promise<string[] | undefined> {
    if (!deviceStore.subscriptionId()) return undefined;
    return (await this.subscribe(deviceStore.preview(), accounts)).accounts;
  }

  private async changePreview(preview: Preview): Promise<void> {
    say(this.error, undefined);
    deviceStore.setPreview(preview);
    if (!deviceStore.subscriptionId()) return;
    try {
      await this.subscribe(preview);
      this.state.textContent = t('settings.pushOnPreviewUpdated');
    } catch (error) {
      say(this.error, describeError(error));
    }
  }

  /** Sign-out: the gateway forgets the subscription, the browser drops it. */
  async turnOff(): Promise<void> {
    await deviceStore.adoptWorkerSubscriptionId().catch(() => undefined);
    const id = deviceStore.subscriptionId();
    if (id) await this.api.unsubscribe(id).catch(() => undefined);
    const registration = 'serviceWorker' in navigator ? await navigator.serviceWorker.getRegistration() : undefined;
    await (await registration?.pushManager.getSubscription())?.unsubscribe().catch(() => false);
    const notifications = (await registration?.getNotifications()) ?? [];
    notifications.forEach((notification) => notification.close());
  }
}
