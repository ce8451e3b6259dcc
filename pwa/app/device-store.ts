// What this device remembers: the access token, the feed with the id of the last event it holds,
// and the notification settings. localStorage for the page; the service worker cannot read
// localStorage, so what it needs (token, preview, subscription id) is mirrored into Cache Storage,
// which both can reach (the language too: the worker renders notifications in it). The feed and its last id are written together, so a reload resumes from
// exactly the events that are on screen: nothing missed, nothing twice.

import type { Preview } from './api.js';
import type { FeedState } from './feed.js';
import type { Locale } from './i18n.js';

const KEYS = {
  token: 'mailpush.token',
  feed: 'mailpush.feed',
  preview: 'mailpush.preview',
  subscription: 'mailpush.pushSubscriptionId',
} as const;

/** Shared with sw.ts: the cache and the (never fetched) URL the worker reads its settings from. */
export const DEVICE_CACHE = 'mailpush-device';
export const DEVICE_SETTINGS_URL = '/__device/settings.json';

function read(key: string): string | undefined {
  try {
    return localStorage.getItem(key) ?? undefined;
  } catch {
    return undefined; // storage disabled: the app still works for this visit
  }
}

function write(key: string, value: string | undefined): void {
  try {
    if (value === undefined) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // quota or privacy mode: nothing else to do
  }
}

export const deviceStore = {
  token: (): string | undefined => read(KEYS.token),
  setToken(token: string): void {
    write(KEYS.token, token);
    void mirrorForWorker();
  },

  loadFeed(): FeedState | undefined {
    const raw = read(KEYS.feed);
    if (!raw) return undefined;
    try {
      return JSON.parse(raw) as FeedState;
    } catch {
      return undefined;
    }
  },
  saveFeed(state: FeedState): void {
    write(KEYS.feed, JSON.stringify(state));
  },

  preview: (): Preview => (read(KEYS.preview) as Preview | undefined) ?? 'sender',
  setPreview(preview: Preview): void {
    write(KEYS.preview, preview);
    void mirrorForWorker();
  },

  subscriptionId: (): string | undefined => read(KEYS.subscription),
  setSubscriptionId(id: string | undefined): void {
    write(KEYS.subscription, id);
    void mirrorForWorker();
  },

  /** The page's language, for the worker's notifications (the choice itself is kept by i18n.ts). */
  setLocale(locale: Locale): void {
    if (workerLocale === locale) return;
    workerLocale = locale;
    void mirrorForWorker();
  },

  /**
   * The service worker renews a push subscription on its own (`pushsubscriptionchange`, maybe with
   * no page open) and records the new id in the mirrored settings: adopt it, or sign-out and
   * preview changes would act on a subscription that no longer exists.
   */
  async adoptWorkerSubscriptionId(): Promise<void> {
    if (!('caches' in self)) return;
    const cached = await (await caches.open(DEVICE_CACHE)).match(DEVICE_SETTINGS_URL);
    const settings = (await cached?.json().catch(() => undefined)) as { subscriptionId?: string | null } | undefined;
    if (settings?.subscriptionId && settings.subscriptionId !== read(KEYS.subscription)) write(KEYS.subscription, settings.subscriptionId);
  },

  /** Sign-out: everything this device knew goes. */
  async forgetAll(): Promise<void> {
    Object.values(KEYS).forEach((key) => write(key, undefined));
    if ('caches' in self) await caches.delete(DEVICE_CACHE).catch(() => false);
  },
};

let workerLocale: Locale | undefined;

/**
 * What sw.ts needs to renew a push subscription on its own (`pushsubscriptionchange`), and the
 * language to show notifications in. Cache Storage rather than a message to the worker: the worker
 * is stopped between pushes and has no storage of its own that survives, and it reads this file
 * already; a push can come with no page open, long after the language was chosen.
 */
async function mirrorForWorker(): Promise<void> {
  if (!('caches' in self)) return;
  const token = deviceStore.token();
  const cache = await caches.open(DEVICE_CACHE);
  if (!token) {
    await cache.delete(DEVICE_SETTINGS_URL);
    return;
  }
  const settings = { token, preview: deviceStore.preview(), subscriptionId: deviceStore.subscriptionId() ?? null, ...(workerLocale ? { locale: workerLocale } : {}) };
  await cache.put(DEVICE_SETTINGS_URL, new Response(JSON.stringify(settings), { headers: { 'content-type': 'application/json' } }));
}
