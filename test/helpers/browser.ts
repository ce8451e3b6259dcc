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

  private constructor(private readonly cdp: CDPSession, private readonly origin: string) {
    cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
      const ours = registrations.find((r) => r.scopeURL === `${origin}/` && !r.isDeleted);
      if (ours) this.registrationId = ours.registrationId;
    });
  }

  static async attach(page: Page, origin: string): Promise<ServiceWorkerPush> {
    const cdp = await page.context().newCDPSession(page);
    const push = new ServiceWorkerPush(cdp, origin);
    await cdp.send('ServiceWorker.enable');
    return push;
  }

  async deliver(payload: unknown): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!this.registrationId) {
      if (Date.now() > deadline) throw new Error(`no service worker registration for ${this.origin}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await this.cdp.send('ServiceWorker.deliverPushMessage', { origin: this.origin, registrationId: this.registrationId, data: JSON.stringify(payload) });
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
