// The app: wires the stored state, the live stream and the screens together, and keeps the
// unread count in the title and on the app icon. Screens are chosen by the URL hash, so the
// browser's back button and the manifest's start_url (#/mail) work without a server-side router.

import { Api, type Account, type PublicConfig } from './api.js';
import { AccountsView } from './accounts-view.js';
import { deviceStore } from './device-store.js';
import { DevicesView } from './devices-view.js';
import { byId } from './dom.js';
import { EventStream, type ConnectionState } from './event-stream.js';
import { Feed } from './feed.js';
import { FeedView } from './feed-view.js';
import { InstallGuide } from './install-guide.js';
import { Notifications } from './notifications.js';
import { OAuthReturnView } from './oauth-sign-in.js';
import { MessageView } from './message-view.js';
import { PairingView } from './pairing-view.js';
import { RegisterView } from './register-view.js';
import { QuietHoursView } from './quiet-hours-view.js';
import { SettingsView } from './settings-view.js';
import { applyStaticText, formatCount, languageChoice, locale, onLanguageChange, setLanguageChoice, t, type LanguageChoice, type PlainKey } from './i18n.js';

type ViewName = 'register' | 'pair' | 'mail' | 'message' | 'accounts' | 'devices' | 'settings' | 'oauth';
const VIEWS: readonly ViewName[] = ['register', 'pair', 'mail', 'message', 'accounts', 'devices', 'settings', 'oauth'];
/**
 * The screens of a device that is not signed in: "Use your mailbox", "I have a pairing code" and
 * the return from a provider's sign-in (#/oauth/done, #/oauth/error).
 */
const SIGNED_OUT_VIEWS: readonly ViewName[] = ['register', 'pair', 'oauth'];

const CONNECTION_LABELS: Record<ConnectionState, PlainKey> = {
  connecting: 'connection.connecting',
  live: 'connection.live',
  reconnecting: 'connection.reconnecting',
  offline: 'connection.offline',
};

// A 401 on any request means this device was removed (or its user deleted) elsewhere.
const api = new Api(() => deviceStore.token(), () => void signOut('removed'));
let feed = new Feed(deviceStore.loadFeed());
const accounts = new Map<string, Account>();
let config: PublicConfig | undefined;
let currentView: ViewName | undefined;
let connectionState: ConnectionState | undefined;
/** Set when the feed lost events while away; shown until the next start. */
let resyncNoticeShown = false;
/** Why this device is on the first screen again, until it signs in. */
let signedOutNotice: PlainKey | undefined;

const feedView = new FeedView();
const notifications = new Notifications(api);
const installGuide = new InstallGuide();
const registerView = new RegisterView({
  api,
  onRegistered(account, token) {
    if (token) deviceStore.setToken(token);
    signedOutNotice = undefined;
    accounts.set(account.id, account);
    feed.setAccounts([...accounts.values()]);
    stream.start();
    location.hash = '#/mail';
    refresh();
  },
});
const oauthReturnView = new OAuthReturnView({
  api,
  onSignedIn(answer, wasSignedIn) {
    // Replaced, not pushed: the back button must not lead to the used sign-in code's screen.
    if (wasSignedIn) {
      // A mailbox added to this device's user: the accounts screen loads it.
      history.replaceState(history.state, '', '#/accounts');
      route();
      return;
    }
    deviceStore.setToken(answer.token);
    signedOutNotice = undefined;
    accounts.set(answer.account.id, answer.account);
    feed.setAccounts([...accounts.values()]);
    stream.start();
    history.replaceState(history.state, '', '#/mail');
    route();
    refresh();
  },
  onMailboxAdded() {
    // The callback already stored the mailbox for this device's user; the accounts screen shows it.
    history.replaceState(history.state, '', '#/accounts');
    route();
    refresh();
    accountsView.notify(t('oauth.mailboxAdded'), 'ok');
  },
});
const messageView = new MessageView(api);
const pairingView = new PairingView({
  api,
  onPaired(token) {
    deviceStore.setToken(token);
    signedOutNotice = undefined;
    stream.start();
    location.hash = '#/mail';
    refresh();
  },
});
const devicesView = new DevicesView({ api, onRemovedCurrent: () => void signOut('local') });
const settingsView = new SettingsView({
  api,
  notifications,
  onAccountChanged(account) {
    accounts.set(account.id, account);
    refresh();
  },
  // The gateway closes this device's stream (4401) as it erases the user: stop it first, so the
  // first screen says "deleted", not "signed out elsewhere".
  onDeleting: () => stream.stop(),
  onDeleteFailed: () => stream.start(),
  onDeleted: () => void signOut('deleted'),
});
const quietHoursView = new QuietHoursView(api);
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
  providers: () => config?.oauth.providers ?? [],
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
    void signOut('removed');
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
  if (currentView === 'settings') settingsView.render([...accounts.values()]);
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

/** On the first screen: why this device is signed out, if it was not the person's own doing. */
function showStartNotice(): void {
  const notice = byId('start-notice');
  const key = deviceStore.token() ? undefined : signedOutNotice;
  notice.textContent = key ? t(key) : '';
  notice.hidden = !key;
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
  if (OAuthReturnView.handles(location.hash)) return 'oauth';
  // "#/pair?code=…", "#/message/<account>/<uid>?…": the screen's name comes before the query and path.
  const name = location.hash.replace(/^#\/?/, '').split('?')[0]!.split('/')[0] as ViewName;
  if (!deviceStore.token()) return SIGNED_OUT_VIEWS.includes(name) ? name : 'register';
  // Signed in, #/register adds another mailbox; a pairing link has nothing left to do here.
  return VIEWS.includes(name) && name !== 'pair' ? name : 'mail';
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
  byId('start-pairing').hidden = signedIn;
  showStartNotice();
  if (view === 'register') registerView.show(signedIn);
  installGuide.show(view === 'register' || view === 'settings' ? view : undefined, config?.push.enabled ?? true);
  if (view === 'pair') pairingView.show(location.hash);
  if (view === 'oauth') oauthReturnView.show(location.hash, signedIn);
  if (view === 'message') void messageView.show(location.hash);
  if (view === 'accounts') void loadAccounts();
  if (view === 'devices' && currentView !== 'devices') void devicesView.load();
  if (view !== 'devices') devicesView.leave();
  if (view === 'settings') {
    void notifications.refresh(config?.push.enabled ?? true);
    // The list of mailboxes may have changed on another device: ask before drawing it.
    void loadAccounts().then(() => settingsView.load([...accounts.values()]));
    if (currentView !== 'settings') void quietHoursView.load();
  }
  // After a change of screen (not on first load), move focus to its heading for keyboard and
  // screen-reader users; the register form focuses its first field instead.
  if (currentView !== undefined && currentView !== view) {
    if (view === 'register') registerView.focus();
    else if (view === 'pair') pairingView.focus();
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
    refresh(); // the accounts screen's "Add a <provider> mailbox" buttons
    // A gateway that sends no notifications needs no install guide for them.
    if (currentView === 'register' || currentView === 'settings') installGuide.show(currentView, config.push.enabled);
    if (currentView === 'settings') void notifications.refresh(config.push.enabled);
  } catch {
    // Offline start: try again when the network is back.
    addEventListener('online', () => void loadConfig(), { once: true });
  }
}

let signingOut = false;

/**
 * Back to the first screen, forgetting everything this device knew. `local`: "Sign out of this
 * device", which removes the device on the gateway too; `removed`: the gateway refused the token
 * (the device was removed elsewhere, the stream closed 4401); `deleted`: the user was erased here.
 */
async function signOut(reason: 'local' | 'removed' | 'deleted'): Promise<void> {
  if (signingOut) return; // a 401 from the requests below must not start it again
  signingOut = true;
  try {
    stream.stop();
    await notifications.turnOff().catch(() => undefined);
    if (reason === 'local') await api.removeDevice('current').catch(() => undefined);
    await deviceStore.forgetAll();
    feed = new Feed();
    accounts.clear();
    signedOutNotice = reason === 'removed' ? 'start.signedOutElsewhere' : reason === 'deleted' ? 'settings.deleted' : undefined;
    refresh();
    location.hash = '#/register';
    route();
  } finally {
    signingOut = false;
  }
}

byId('sign-out').addEventListener('click', () => void signOut('local'));

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
  if (currentView === 'pair') pairingView.show(location.hash);
  if (currentView === 'oauth') oauthReturnView.render();
  if (currentView === 'devices') devicesView.render();
  if (currentView === 'settings') settingsView.render();
  if (currentView === 'settings') quietHoursView.render();
  showStartNotice();
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
