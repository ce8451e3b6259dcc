// The app: wires the stored state, the live stream and the three screens together, and keeps the
// unread count in the title and on the app icon. Screens are chosen by the URL hash, so the
// browser's back button and the manifest's start_url (#/mail) work without a server-side router.

import { Api, type Account, type PublicConfig } from './api.js';
import { AccountsView } from './accounts-view.js';
import { deviceStore } from './device-store.js';
import { byId } from './dom.js';
import { EventStream, type ConnectionState } from './event-stream.js';
import { Feed } from './feed.js';
import { FeedView } from './feed-view.js';
import { InstallGuide } from './install-guide.js';
import { Notifications } from './notifications.js';
import { RegisterView } from './register-view.js';
import { applyStaticText, formatCount, languageChoice, locale, onLanguageChange, setLanguageChoice, t, type LanguageChoice, type PlainKey } from './i18n.js';

type ViewName = 'register' | 'mail' | 'accounts' | 'settings';
const VIEWS: readonly ViewName[] = ['register', 'mail', 'accounts', 'settings'];

const CONNECTION_LABELS: Record<ConnectionState, PlainKey> = {
  connecting: 'connection.connecting',
  live: 'connection.live',
  reconnecting: 'connection.reconnecting',
  offline: 'connection.offline',
};

const api = new Api(() => deviceStore.token());
let feed = new Feed(deviceStore.loadFeed());
const accounts = new Map<string, Account>();
let config: PublicConfig | undefined;
let currentView: ViewName | undefined;
let connectionState: ConnectionState | undefined;
/** Set when the feed lost events while away; shown until the next start. */
let resyncNoticeShown = false;

const feedView = new FeedView();
const notifications = new Notifications(api);
const installGuide = new InstallGuide();
const registerView = new RegisterView({
  api,
  onRegistered(account, token) {
    if (token) deviceStore.setToken(token);
    accounts.set(account.id, account);
    feed.setAccounts([...accounts.values()]);
    stream.start();
    location.hash = '#/mail';
    refresh();
  },
});
const accountsView = new AccountsView({
  api,
  onChanged(account) {
    accounts.set(account.id, account);
    refresh();
  },
  onRemoved(accountId) {
    accounts.delete(accountId);
    feed.forgetAccount(accountId);
    deviceStore.saveFeed(feed.snapshot());
    refresh();
  },
});

const stream = new EventStream({
  token: () => deviceStore.token(),
  since: () => feed.lastEventId,
  onReady(list) {
    accounts.clear();
    list.forEach((account) => accounts.set(account.id, account));
    feed.setAccounts(list);
    deviceStore.saveFeed(feed.snapshot());
    refresh();
  },
  onEvent(event) {
    if (!feed.apply(event)) return; // already shown before the reconnect
    // Stored before anything else: the next reconnect resumes after exactly this event.
    deviceStore.saveFeed(feed.snapshot());
    const account = accounts.get(event.accountId);
    if (account) {
      if ('unseen' in event.data && typeof event.data.unseen === 'number') account.unseen = event.data.unseen;
      if (event.type === 'account.state' && typeof event.data.state === 'string') {
        account.state = event.data.state;
        if (typeof event.data.error === 'string') account.lastError = event.data.error;
        else delete account.lastError;
      }
    }
    refresh();
  },
  onResyncRequired() {
    resyncNoticeShown = true;
    showTransientText();
  },
  onState(state) {
    connectionState = state;
    const pill = byId('connection');
    pill.dataset.state = state;
    pill.hidden = !deviceStore.token();
    showTransientText();
  },
  onUnauthorized() {
    void signOut();
  },
  onBadResumePoint() {
    feed.forgetResumePoint();
    deviceStore.saveFeed(feed.snapshot());
  },
});

/** Redraws what depends on the feed and the accounts. */
function refresh(): void {
  feedView.render(feed, accounts);
  accountsView.render([...accounts.values()]);
  const unread = feed.totalUnseen();
  document.title = unread > 0 ? t('app.titleWithUnread', { count: unread }) : 'mailpush';
  const count = byId('unread-count');
  count.textContent = formatCount(unread);
  count.hidden = unread === 0;
  count.setAttribute('aria-label', t('nav.unreadCount', { count: unread }));
  // The Badging API exists in installed Chromium apps (and Safari); elsewhere the title does it.
  if ('setAppBadge' in navigator) {
    void (unread > 0 ? navigator.setAppBadge(unread) : navigator.clearAppBadge()).catch(() => undefined);
  }
}

/** Text drawn from state outside the views: the connection pill and the feed's notice. */
function showTransientText(): void {
  const pill = byId('connection');
  pill.textContent = connectionState ? t(CONNECTION_LABELS[connectionState]) : '';
  const notice = byId('feed-notice');
  notice.textContent = resyncNoticeShown ? t('feed.resyncNotice') : '';
  notice.hidden = !resyncNoticeShown;
}

function viewFromHash(): ViewName {
  const name = location.hash.replace(/^#\/?/, '') as ViewName;
  if (!deviceStore.token()) return 'register';
  return VIEWS.includes(name) ? name : 'mail';
}

function route(): void {
  const view = viewFromHash();
  const signedIn = Boolean(deviceStore.token());
  byId('tabs').hidden = !signedIn;
  byId('connection').hidden = !signedIn;
  for (const name of VIEWS) byId(`view-${name}`).hidden = name !== view;
  byId('tabs').querySelectorAll<HTMLAnchorElement>('a').forEach((link) => {
    if (link.dataset.view === view) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  });
  if (view === 'register') registerView.show(signedIn);
  installGuide.show(view === 'register' || view === 'settings' ? view : undefined, config?.push.enabled ?? true);
  if (view === 'accounts') void loadAccounts();
  if (view === 'settings') void notifications.refresh(config?.push.enabled ?? true);
  // After a change of screen (not on first load), move focus to its heading for keyboard and
  // screen-reader users; the register form focuses its first field instead.
  if (currentView !== undefined && currentView !== view) {
    if (view === 'register') registerView.focus();
    else {
      const heading = byId(`view-${view}`).querySelector('h2');
      heading?.setAttribute('tabindex', '-1');
      heading?.focus();
    }
  }
  currentView = view;
}

async function loadAccounts(): Promise<void> {
  try {
    const list = await api.accounts();
    accounts.clear();
    list.forEach((account) => accounts.set(account.id, account));
    feed.setAccounts(list);
    refresh();
  } catch {
    // Offline or the gateway is restarting: the stream's `ready` will fill the list in.
  }
}

async function loadConfig(): Promise<void> {
  try {
    config = await api.config();
    registerView.applyDefaults(config);
    // A gateway that sends no notifications needs no install guide for them.
    if (currentView === 'register' || currentView === 'settings') installGuide.show(currentView, config.push.enabled);
    if (currentView === 'settings') void notifications.refresh(config.push.enabled);
  } catch {
    // Offline start: try again when the network is back.
    addEventListener('online', () => void loadConfig(), { once: true });
  }
}

async function signOut(): Promise<void> {
  stream.stop();
  await notifications.turnOff();
  await deviceStore.forgetAll();
  feed = new Feed();
  accounts.clear();
  refresh();
  location.hash = '#/register';
  route();
}

byId('sign-out').addEventListener('click', () => void signOut());

const languageSelect = byId<HTMLSelectElement>('language');
languageSelect.value = languageChoice();
languageSelect.addEventListener('change', () => setLanguageChoice(languageSelect.value as LanguageChoice));
onLanguageChange(() => {
  // The service worker renders notifications in the same language: it reads it from the mirror.
  deviceStore.setLocale(locale());
  showTransientText();
  installGuide.render();
  accountsView.notify(undefined); // a notice from before the switch would stay in the old language
  refresh();
  if (currentView === 'register') registerView.show(Boolean(deviceStore.token()));
  if (currentView === 'settings') void notifications.refresh(config?.push.enabled ?? true);
});
// "5 minutes ago" in the feed moves on by itself.
setInterval(() => feedView.render(feed, accounts), 60_000);
addEventListener('hashchange', route);

if ('serviceWorker' in navigator) {
  // The worker caches the app for offline starts and shows push notifications.
  navigator.serviceWorker.register('/sw.js').catch(() => undefined);
  // The worker renewed the push subscription by itself: take over its new id.
  navigator.serviceWorker.addEventListener('message', (event: MessageEvent<{ type?: string }>) => {
    if (event.data?.type === 'push-subscription-renewed') void deviceStore.adoptWorkerSubscriptionId();
  });
  void deviceStore.adoptWorkerSubscriptionId();
}

applyStaticText();
deviceStore.setLocale(locale());
void loadConfig();
refresh();
route();
if (deviceStore.token()) stream.start();
