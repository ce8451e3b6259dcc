// Headless Chromium from Debian's package (/usr/bin/chromium), driven by playwright-core, for the
// PWA's browser tests. Playwright cannot download a browser here, so it is pointed at the system one.
//
// Only one platform piece is replaced: a push subscription. Headless Chromium has no push service
// to subscribe with, so PushManager.subscribe returns a subscription whose endpoint is the test
// push service (push-service.ts); everything around it — the app's code, the gateway's sending,
// the worker's `push` handler — is real. Push messages reach the worker through the DevTools
// protocol (ServiceWorker.deliverPushMessage), as a push service would deliver them.

import { chromium, type Browser, type BrowserContext, type CDPSession, type Page } from 'playwright-core';
import type { TestSubscription } from './push-service.js';
import { waitFor } from './wait.js';
import { api } from './gateway.js';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/**
 * Page script (kept as text: the test build has no DOM types) that replaces PushManager's
 * subscribe/getSubscription. The subscription survives reloads through localStorage, like a real one.
 */
const PUSH_MANAGER_DOUBLE = `(subscription) => {
  const STORE = 'test.pushSubscribed';
  const bytes = (base64url) => Uint8Array.from(atob(base64url.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0)).buffer;
  const make = (serverKey) => ({
    endpoint: subscription.endpoint,
    expirationTime: null,
    options: { userVisibleOnly: true, applicationServerKey: serverKey ? bytes(serverKey) : null },
    getKey: (name) => bytes(subscription.keys[name]),
    toJSON: () => ({ endpoint: subscription.endpoint, expirationTime: null, keys: { ...subscription.keys } }),
    unsubscribe: async () => { localStorage.removeItem(STORE); return true; },
  });
  const toBase64url = (key) => {
    const view = key instanceof ArrayBuffer ? new Uint8Array(key) : new Uint8Array(key.buffer, key.byteOffset, key.byteLength);
    return btoa(String.fromCharCode(...view)).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  };
  PushManager.prototype.subscribe = async function (options) {
    const serverKey = toBase64url(options.applicationServerKey);
    localStorage.setItem(STORE, serverKey);
    return make(serverKey);
  };
  PushManager.prototype.getSubscription = async function () {
    const serverKey = localStorage.getItem(STORE);
    return serverKey ? make(serverKey) : null;
  };
}`;

export async function replacePushSubscription(context: BrowserContext, subscription: TestSubscription): Promise<void> {
  await context.addInitScript({ content: `(${PUSH_MANAGER_DOUBLE})(${JSON.stringify(subscription)});` });
}

/** Delivers push messages to the page's service worker over the DevTools protocol. */
export class ServiceWorkerPush {
  private registrationId: string | undefined;
  /** Registrations with an activated worker: a push delivered to one still installing is lost. */
  private readonly activated = new Set<string>();

  private constructor(private readonly cdp: CDPSession, private readonly origin: string) {
    cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
      const ours = registrations.find((r) => r.scopeURL === `${origin}/` && !r.isDeleted);
      if (ours) this.registrationId = ours.registrationId;
    });
    cdp.on('ServiceWorker.workerVersionUpdated', ({ versions }) => {
      for (const version of versions) if (version.status === 'activated') this.activated.add(version.registrationId);
    });
  }

  static async attach(page: Page, origin: string): Promise<ServiceWorkerPush> {
    const cdp = await page.context().newCDPSession(page);
    const push = new ServiceWorkerPush(cdp, origin);
    await cdp.send('ServiceWorker.enable');
    return push;
  }

  async deliver(payload: unknown): Promise<void> {
    const registrationId = await waitFor(() => this.registrationId !== undefined && this.activated.has(this.registrationId) && this.registrationId, {
      timeoutMs: 15_000,
      what: `an activated service worker registration for ${this.origin}`,
    });
    await this.cdp.send('ServiceWorker.deliverPushMessage', { origin: this.origin, registrationId, data: JSON.stringify(payload) });
  }

  /**
   * Delivers `payload` until `done()` holds, at most three times, 5 s apart. DevTools' push delivery
   * was seen to be lost now and then on a loaded machine (2 runs in about 12 showed no notification
   * even after 15 s); what is under test is what the service worker does with a push it receives,
   * and a repeat is harmless here: the same tag replaces, a dismiss closes what is already closed.
   */
  async deliverUntil(payload: unknown, done: () => Promise<boolean>, what: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      await this.deliver(payload);
      try {
        await waitFor(done, { timeoutMs: 5000, what });
        return;
      } catch (error) {
        if (attempt === 3) throw error;
        console.warn(`ServiceWorkerPush: ${what} after 5 s; delivering the push again (attempt ${attempt + 1})`);
      }
    }
  }

  async detach(): Promise<void> {
    await this.cdp.detach().catch(() => undefined);
  }
}

export interface ShownNotification {
  title: string;
  body: string;
  tag: string;
}

/** The notifications the page's service worker registration is showing right now. */
export function shownNotifications(page: Page): Promise<ShownNotification[]> {
  return page.evaluate(`navigator.serviceWorker.ready
    .then((registration) => registration.getNotifications())
    .then((list) => list.map((n) => ({ title: n.title, body: n.body, tag: n.tag })))`) as Promise<ShownNotification[]>;
}

/**
 * Text whose contrast with what is behind it is under WCAG AA's 4.5:1, on the visible screen.
 * The background is found by walking up the tree, blending translucent layers. Page script as text
 * (the test build has no DOM types).
 */
export const LOW_CONTRAST = `(() => {
  const rgba = (value) => (value.match(/[\\d.]+/g) || []).map(Number).concat([1]).slice(0, 4);
  const blend = (top, bottom) => [0, 1, 2].map((i) => top[i] * top[3] + bottom[i] * (1 - top[3])).concat([1]);
  const background = (node) => {
    const layers = [];
    for (let el = node; el; el = el.parentElement) {
      const colour = rgba(getComputedStyle(el).backgroundColor);
      if (colour[3] > 0) layers.push(colour);
      if (colour[3] >= 1) break;
    }
    return layers.reverse().reduce((below, layer) => blend(layer, below), [255, 255, 255, 1]);
  };
  const luminance = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const problems = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.checkVisibility() || el.closest('.visually-hidden')) continue;
    const style = getComputedStyle(el);
    const fg = blend(rgba(style.color), background(el));
    const [hi, lo] = [luminance(fg), luminance(background(el))].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    if (ratio < 4.5) problems.push(el.tagName + '.' + el.className + ' "' + el.textContent.trim().slice(0, 30) + '" ' + ratio.toFixed(2));
  }
  return problems;
})()`;

/** The web app's words for its notification switch, in the page's language. */
export interface NotificationLabels {
  settings: string;
  turnOn: string;
  on: string;
  show: string;
}

export const ENGLISH_NOTIFICATION_LABELS: NotificationLabels = {
  settings: 'Settings', turnOn: 'Turn on notifications', on: 'Notifications are on', show: 'Notifications show',
};

/**
 * Turns notifications on in Settings with `preview`, and waits until the gateway holds the one
 * subscription with that preview (at `endpointOrigin`, when given).
 */
export async function turnOnNotifications(
  page: Page,
  gateway: { base: string; token: string },
  preview: 'none' | 'sender' | 'full',
  labels: NotificationLabels = ENGLISH_NOTIFICATION_LABELS,
  endpointOrigin?: string,
): Promise<void> {
  await page.getByRole('link', { name: labels.settings }).click();
  await page.getByRole('button', { name: labels.turnOn }).click();
  await page.locator('#push-state', { hasText: labels.on }).waitFor();
  await page.getByLabel(labels.show).selectOption(preview);
  await waitFor(async () => {
    const list = (await api(gateway.base, 'GET', '/v1/push/subscriptions', { token: gateway.token })).body.subscriptions as Array<{ preview: string; endpointOrigin: string }>;
    return list.length === 1 && list[0]!.preview === preview && (endpointOrigin === undefined || list[0]!.endpointOrigin === endpointOrigin);
  }, { timeoutMs: 5000, what: `${endpointOrigin === undefined ? 'the subscription' : 'one subscription'} with preview ${preview}${endpointOrigin === undefined ? '' : ' at the push service'}` });
}
