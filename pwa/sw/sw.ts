// The service worker: the app shell for offline starts, push notifications, and their clicks.
// A classic script (no imports), because module service workers are not supported everywhere.
// Notification text comes from the app's one catalog (src/protocol/i18n), whose compiled code
// pwa/tools/build.mjs puts in front of this file as MAILPUSH_I18N.
//
// The shell list and its version are written in by pwa/tools/build.mjs, so any change to the app
// changes this file's bytes, which is what makes a browser install the new version.

const sw = self as unknown as ServiceWorkerGlobalScope;

const SHELL: { version: string; files: string[] } = { version: 'SHELL_VERSION', files: ['SHELL_FILES'] };
const SHELL_CACHE = `mailpush-shell-${SHELL.version}`;
/** Written by the page (device-store.ts): token, preview and subscription id, for renewals. */
const DEVICE_CACHE = 'mailpush-device';
const DEVICE_SETTINGS_URL = '/__device/settings.json';
const UNSEEN_URL = '/__device/unseen.json';

// The protocol's types, shared with the gateway (src/protocol). Inline `import()` types, because an
// import statement would make this file a module; they are erased, so nothing is loaded at run time.
type PushPayload = import('../../src/protocol/push.js').PushPayload;
type PreviewLevel = import('../../src/protocol/accounts.js').PreviewLevel;
type Locale = import('../../src/protocol/i18n/translate.js').Locale;
/** The shared catalog's module, inlined by build.mjs (declared here, defined there). */
declare const MAILPUSH_I18N: typeof import('../../src/protocol/i18n/translate.js');
/** src/protocol/messages.ts (actions, the message view's route), inlined by build.mjs likewise. */
declare const MAILPUSH_MESSAGES: typeof import('../../src/protocol/messages.js');
type MessageAction = import('../../src/protocol/messages.js').MessageAction;
/** src/protocol/push.ts (the notification tags both ends agree on), inlined likewise. */
declare const MAILPUSH_PUSH: typeof import('../../src/protocol/push.js');

interface DeviceSettings {
  token: string;
  preview: PreviewLevel;
  subscriptionId: string | null;
  /** The page's language (device-store.ts); absent from settings an older page wrote. */
  locale?: string;
}

// ---- App shell ------------------------------------------------------------------------------

sw.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL_CACHE);
    // `reload` skips the HTTP cache: the shell must be the files this worker was built with.
    await cache.addAll(SHELL.files.map((file) => new Request(file, { cache: 'reload' })));
    await sw.skipWaiting();
  })());
});

sw.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((name) => name.startsWith('mailpush-shell-') && name !== SHELL_CACHE).map((name) => caches.delete(name)));
    await sw.clients.claim();
  })());
});

sw.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  // The API, the stream and anything not ours always go to the network.
  if (event.request.method !== 'GET' || url.origin !== sw.location.origin || url.pathname.startsWith('/v1/')) return;
  if (event.request.mode === 'navigate') {
    // Network first, so an online start gets the newest page; the cached shell when offline.
    event.respondWith(fetch(event.request).catch(async () => (await caches.match('/index.html', { cacheName: SHELL_CACHE })) ?? Response.error()));
    return;
  }
  if (!SHELL.files.includes(url.pathname)) return;
  // Shell files are versioned with this worker: the cache is always right for it.
  event.respondWith((async () => (await caches.match(event.request, { cacheName: SHELL_CACHE })) ?? fetch(event.request))());
});

// ---- Push -----------------------------------------------------------------------------------

sw.addEventListener('push', (event) => {
  let payload: PushPayload | undefined;
  try {
    payload = event.data?.json() as PushPayload | undefined;
  } catch {
    payload = undefined;
  }
  event.waitUntil(handlePush(payload));
});

async function handlePush(payload: PushPayload | undefined): Promise<void> {
  const locale = await deviceLocale();
  if (!payload || payload.v !== 1) {
    await sw.registration.showNotification(MAILPUSH_I18N.translate(locale, 'push.newMail'), { tag: 'mailpush', icon: '/icons/icon-192.png', badge: '/icons/badge-96.png' });
    return;
  }
  // The badge is a nicety: a failure there must never cost the notification (and a push that shows
  // none may earn the site the browser's generic notice), so it runs beside it and only logs.
  const badge = payload.accountId && typeof payload.unseen === 'number'
    ? updateBadge(payload.accountId, payload.unseen).catch((error: unknown) => console.warn('badge update failed', error))
    : undefined;
  try {
    await showOrDismiss(payload, locale);
  } finally {
    await badge;
  }
}

async function showOrDismiss(payload: PushPayload, locale: Locale): Promise<void> {
  if (payload.type === 'dismiss') {
    // Read or deleted elsewhere: close the notification of that message, if it is still shown.
    // Nothing new is shown: Chromium allows a few such pushes before it shows a generic notice
    // of its own, which is why the gateway sends dismisses with low urgency (batched by the
    // push service while the device sleeps).
    const tags = new Set(payload.tags ?? []);
    const shown = await sw.registration.getNotifications();
    shown.filter((notification) => tags.has(notification.tag)).forEach((notification) => notification.close());
    await takeOutOfQuiet(tags, locale);
    return;
  }
  const { title, body } = notificationText(payload, locale);
  const message = messageOf(payload);
  const mail: ShownMail = {
    title,
    body,
    // A tap on one message's notification opens that message; anything else, the feed.
    url: message ? `/${MAILPUSH_MESSAGES.messageRoute(message.accountId, message.uid, message.mailbox, message.uidValidity)}` : '/#/mail',
    ...(message ? { message, tag: MAILPUSH_PUSH.notificationTag(message.accountId, message.mailbox, message.uid) } : {}),
    ...(payload.time ? { timestamp: Date.parse(payload.time) } : {}),
  };
  const about = { ...(payload.accountId ? { accountId: payload.accountId } : {}), ...(payload.eventId ? { eventId: payload.eventId } : {}) };
  // The tag makes a repeat replace, not pile up.
  const tag = payload.tag ?? `mailpush-${payload.type}`;
  if (!payload.silent) {
    await showMail(tag, mail, locale, about);
    return;
  }
  // Quiet hours: the account's one quiet notification is replaced by each mail of the night, and
  // remembers them all, so that a mail read elsewhere can be taken out of it (takeOutOfQuiet).
  const [earlier] = await sw.registration.getNotifications({ tag });
  const quiet = [...quietMailsOf(earlier).filter((shown) => !mail.tag || shown.tag !== mail.tag), mail].slice(-QUIET_MAILS_MAX);
  await showMail(tag, mail, locale, { ...about, quiet });
}

/** What one mail's notification shows, and what its tap and buttons are about. */
interface ShownMail {
  title: string;
  body: string;
  url: string;
  /** The mail's own notification tag (notificationTag), which a dismiss names; none for a batch. */
  tag?: string;
  message?: NotifiedMessage;
  timestamp?: number;
}

/** The mails a quiet notification remembers; a night with more forgets its oldest. */
const QUIET_MAILS_MAX = 100;

/** Shows `mail` under `tag`; with `quiet` (the mails it stands for), silently, as a quiet notification. */
async function showMail(tag: string, mail: ShownMail, locale: Locale, extra: { accountId?: string; eventId?: string; quiet?: ShownMail[] }): Promise<void> {
  const data: NotificationData = {
    url: mail.url,
    ...(extra.accountId ? { accountId: extra.accountId } : {}),
    ...(extra.eventId ? { eventId: extra.eventId } : {}),
    ...(mail.message ? { message: mail.message } : {}),
    ...(extra.quiet ? { quiet: extra.quiet } : {}),
  };
  const t = MAILPUSH_I18N.translate;
  await sw.registration.showNotification(mail.title, {
    body: mail.body,
    tag,
    icon: '/icons/icon-192.png',
    badge: '/icons/badge-96.png',
    data,
    // Where the platform shows buttons (not iOS): act on the message without opening the app.
    ...(mail.message ? { actions: [{ action: 'seen', title: t(locale, 'push.actionSeen') }, { action: 'delete', title: t(locale, 'push.actionDelete') }] } : {}),
    ...(mail.timestamp ? { timestamp: mail.timestamp } : {}),
    // Quiet hours: no sound, and (silent forbids a vibration pattern) no vibration; replacing the
    // account's quiet notification does not alert again either.
    ...(extra.quiet ? { silent: true, renotify: false } : {}),
  } as NotificationOptions);
}

function quietMailsOf(notification: Notification | undefined): ShownMail[] {
  const quiet = (notification?.data as Partial<NotificationData> | undefined)?.quiet;
  return Array.isArray(quiet) ? quiet : [];
}

/**
 * Mail read or deleted elsewhere (`tags`, a dismiss's) leaves the quiet notifications that stand
 * for it: one with nothing left unread closes, one with mail left shows its newest, silently.
 */
async function takeOutOfQuiet(tags: Set<string>, locale: Locale): Promise<void> {
  for (const notification of await sw.registration.getNotifications()) {
    const quiet = quietMailsOf(notification);
    if (!quiet.some((mail) => mail.tag && tags.has(mail.tag))) continue;
    await showQuietRest(notification, quiet.filter((mail) => !mail.tag || !tags.has(mail.tag)), locale);
  }
}

/** Shows what is `left` of a quiet notification's mails (its newest), or closes it when nothing is. */
async function showQuietRest(notification: Notification, left: ShownMail[], locale: Locale): Promise<void> {
  const newest = left.at(-1);
  if (!newest) return notification.close();
  const data = notification.data as NotificationData;
  await showMail(notification.tag, newest, locale, { accountId: data.accountId, eventId: data.eventId, quiet: left });
}

/** Which message a notification is about: what its buttons act on and its tap opens. */
interface NotifiedMessage {
  accountId: string;
  mailbox: string;
  uid: number;
  uidValidity: number;
}

interface NotificationData {
  url: string;
  accountId?: string;
  eventId?: string;
  message?: NotifiedMessage;
  /** A quiet notification: the night's mails it stands for, oldest first (it shows the newest). */
  quiet?: ShownMail[];
}

function messageOf(payload: PushPayload): NotifiedMessage | undefined {
  if (payload.type !== 'mail.new' || !payload.accountId || typeof payload.uid !== 'number' || typeof payload.uidValidity !== 'number') return undefined;
  return { accountId: payload.accountId, mailbox: payload.mailbox ?? 'INBOX', uid: payload.uid, uidValidity: payload.uidValidity };
}

/** The language the page chose (mirrored into Cache Storage), else the browser's own. */
async function deviceLocale(): Promise<Locale> {
  const settings = await readDeviceSettings().catch(() => undefined);
  if (MAILPUSH_I18N.isLocale(settings?.locale)) return settings.locale;
  return MAILPUSH_I18N.negotiateLocale(navigator.languages ?? []);
}

/**
 * What a notification says. The gateway sends data (the preview level its text was chosen for,
 * counts) besides English text: what the gateway wrote itself is rendered here from the catalog in
 * the device's language; what the mail said (sender, subject) is shown as it came. A payload
 * without `preview` (an older gateway) is shown as sent.
 */
function notificationText(payload: PushPayload, locale: Locale): { title: string; body: string } {
  const t = MAILPUSH_I18N.translate;
  const unread = typeof payload.unseen === 'number' ? t(locale, 'push.unread', { count: payload.unseen }) : '';
  switch (payload.type) {
    case 'mail.batch':
      return typeof payload.count === 'number'
        ? { title: t(locale, 'push.newMessages', { count: payload.count }), body: unread }
        : { title: payload.title ?? t(locale, 'push.newMail'), body: payload.body ?? '' };
    case 'test':
      return { title: t(locale, 'push.testTitle'), body: t(locale, 'push.testBody') };
    case 'reauth':
      return { title: t(locale, 'push.reauthTitle'), body: t(locale, 'push.reauthBody') };
    default:
      if (payload.preview === 'none') return { title: t(locale, 'push.newMail'), body: unread };
      if (payload.preview === 'sender') return { title: payload.title ?? t(locale, 'push.newMail'), body: t(locale, 'push.newMessage') };
      return { title: payload.title ?? t(locale, 'push.newMail'), body: payload.body ?? '' };
  }
}

async function readDeviceSettings(): Promise<DeviceSettings | undefined> {
  const cache = await caches.open(DEVICE_CACHE);
  return (await (await cache.match(DEVICE_SETTINGS_URL))?.json().catch(() => undefined)) as DeviceSettings | undefined;
}

/** The icon badge counts unread mail of every account; a push only knows its own account's. */
async function updateBadge(accountId: string, unseen: number): Promise<void> {
  const cache = await caches.open(DEVICE_CACHE);
  const counts = ((await (await cache.match(UNSEEN_URL))?.json().catch(() => undefined)) ?? {}) as Record<string, number>;
  counts[accountId] = unseen;
  await cache.put(UNSEEN_URL, new Response(JSON.stringify(counts)));
  const total = Object.values(counts).reduce((sum, n) => sum + n, 0);
  const badging = navigator as WorkerNavigator & { setAppBadge?(n?: number): Promise<void>; clearAppBadge?(): Promise<void> };
  await (total > 0 ? badging.setAppBadge?.(total) : badging.clearAppBadge?.())?.catch(() => undefined);
}

sw.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const data = (event.notification.data ?? {}) as Partial<NotificationData>;
  const action = event.action;
  const work = (action === 'seen' || action === 'delete') && data.message
    // A button: act on the message at the gateway, opening nothing; a quiet notification then
    // shows the night's other mail (its dismiss will find this one closed).
    ? actOnMessage(data.message, action).then(async () => {
      const acted = MAILPUSH_PUSH.notificationTag(data.message!.accountId, data.message!.mailbox, data.message!.uid);
      const left = quietMailsOf(event.notification).filter((mail) => mail.tag !== acted);
      if (left.length) await showQuietRest(event.notification, left, await deviceLocale());
    })
    : openApp(data.url ?? '/');
  // Only the browser's own events may keep the worker alive (waitUntil throws on one dispatched by
  // script, which is how the browser test clicks a notification's button).
  if (event.isTrusted) event.waitUntil(work);
});

/** Opens the app at `target` (a message, or the feed), in the window already open if there is one. */
async function openApp(target: string): Promise<void> {
  const windows = await sw.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const open = windows.find((client) => new URL(client.url).origin === sw.location.origin);
  if (open) {
    // Focus can be refused (no user activation): showing the message matters more than the focus.
    await open.focus().catch(() => undefined);
    await open.navigate(target).catch(() => undefined);
    return;
  }
  await sw.clients.openWindow(target);
}

/**
 * "Mark as read" or "Delete" with this device's token (mirrored by the page). The gateway's worker
 * does it over IMAP; the mail.flags / mail.expunged that follows closes the notification on the
 * person's other devices. A failure is shown as a notification, since no page may be open to say it.
 */
async function actOnMessage(message: NotifiedMessage, action: MessageAction): Promise<void> {
  const settings = await readDeviceSettings().catch(() => undefined);
  if (!settings?.token) return; // signed out on this device since
  const response = await fetch(`/v1/accounts/${encodeURIComponent(message.accountId)}/messages/${message.uid}/actions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${settings.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ action, uidValidity: message.uidValidity, mailbox: message.mailbox }),
  }).catch(() => undefined);
  // Gone already (read or deleted elsewhere) is what was wanted: nothing to say.
  if (!response || (!response.ok && response.status !== 404)) {
    const locale = await deviceLocale();
    await sw.registration.showNotification(MAILPUSH_I18N.translate(locale, 'push.actionFailed'), {
      tag: `mailpush-action-failed`, icon: '/icons/icon-192.png', badge: '/icons/badge-96.png', data: { url: '/#/mail' },
    });
  }
}

// ---- Subscription renewal -------------------------------------------------------------------

interface SubscriptionChangeEvent extends ExtendableEvent {
  readonly oldSubscription: PushSubscription | null;
  readonly newSubscription: PushSubscription | null;
}

// The push service replaced or expired our subscription: subscribe again if the browser did not
// already, and tell the gateway, which keys subscriptions by endpoint. No page may be open, so
// the token comes from the settings the page mirrored into Cache Storage.
sw.addEventListener('pushsubscriptionchange', (event) => {
  const change = event as SubscriptionChangeEvent;
  const renewal = renewSubscription(change.oldSubscription, change.newSubscription);
  // Only the browser's own events may keep the worker alive (waitUntil throws on one dispatched
  // by script, which is how the browser test plays the push service replacing a subscription).
  if (change.isTrusted) change.waitUntil(renewal);
});

async function renewSubscription(old: PushSubscription | null, renewed: PushSubscription | null): Promise<void> {
  const cache = await caches.open(DEVICE_CACHE);
  const settings = await readDeviceSettings();
  if (!settings?.token) return; // signed out: nothing to renew
  const auth = { authorization: `Bearer ${settings.token}` };
  let subscription = renewed;
  if (!subscription) {
    const key = old?.options.applicationServerKey ?? (await (await fetch('/v1/push/vapid-public-key')).json() as { publicKey: string }).publicKey;
    subscription = await sw.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  }
  const response = await fetch('/v1/push/subscriptions', {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ subscription: subscription.toJSON(), preview: settings.preview }),
  });
  if (!response.ok) return;
  const saved = (await response.json()) as { id: string };
  if (settings.subscriptionId && settings.subscriptionId !== saved.id) {
    // The old endpoint is dead; drop its record now rather than wait for a 410 on the next push.
    await fetch(`/v1/push/subscriptions/${encodeURIComponent(settings.subscriptionId)}`, { method: 'DELETE', headers: auth }).catch(() => undefined);
  }
  await cache.put(DEVICE_SETTINGS_URL, new Response(JSON.stringify({ ...settings, subscriptionId: saved.id })));
  // Open pages adopt the new id now; a page opened later reads it at start.
  for (const client of await sw.clients.matchAll({ type: 'window' })) client.postMessage({ type: 'push-subscription-renewed' });
}
