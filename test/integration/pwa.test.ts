// The installable web app in a real browser: headless Chromium (Debian's package) against real
// `mailpush` web and worker processes, a real Dovecot fed through LMTP, and the loopback push
// service, which decrypts what the gateway sends. Screenshots of the main screens, at desktop and
// phone sizes, go to test-artifacts/screenshots (UPDATE_SCREENSHOTS=1 also copies them to
// docs/screenshots for the README).

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ImapFlow } from 'imapflow';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { LOW_CONTRAST, replacePushSubscription, ServiceWorkerPush, shownNotifications, turnOnNotifications } from '../helpers/browser.js';
import type { Dovecot, DovecotUser } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import { DESKTOP, saveDesktopAndPhoneScreenshots, watchPageProblems } from '../helpers/page-checks.js';
import { gatewayEnv } from '../helpers/gateway-env.js';
import { api } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';
import { buildMessage } from '../helpers/message.js';
import type { MailpushProcess } from '../helpers/processes.js';
import type { PushService } from '../helpers/push-service.js';
import type { RedisServer } from '../helpers/redis.js';


let dovecot: Dovecot;
let redis: RedisServer;
let push: PushService;
/** The web process the browser talks to; killed and restarted on the same port. */
let web: MailpushProcess;
/** A second web process the test itself asks, while `web` is down. */
let probe: MailpushProcess;
let env: Record<string, string>;
let base: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const pageProblems: string[] = [];

/** What the browser registered; later tests build on it. */
let mailbox: DovecotUser;
let token: string;

const fixtures = useFixtures();

before(async () => {
  [dovecot, redis, push] = await Promise.all([fixtures.dovecot(), fixtures.redis(), fixtures.pushService()]);
  env = gatewayEnv({ redisUrl: redis.url, imapPort: dovecot.imapPort, push });
  [, web, probe, browser] = await Promise.all([
    fixtures.mailpush('worker', env),
    fixtures.mailpush('web', env),
    fixtures.mailpush('web', env),
    fixtures.chromium(),
  ]);
  base = web.url!;
  context = await browser.newContext({ viewport: DESKTOP });
  await context.grantPermissions(['notifications'], { origin: base });
  await replacePushSubscription(context, push.subscribe('browser'));
  page = await context.newPage();
  // The app must work on a closed network: nothing may be fetched from anywhere but the gateway.
  watchPageProblems(page, pageProblems, base);
});


const screenshot = (name: string) => saveDesktopAndPhoneScreenshots(page, name);

const stored = (key: string) => page.evaluate(`localStorage.getItem(${JSON.stringify(key)})`) as Promise<string | null>;
const lastStoredEventId = async () => (JSON.parse((await stored('mailpush.feed')) ?? '{}') as { lastEventId?: string }).lastEventId;
const feedItem = (subject: string) => page.locator('#feed > li', { hasText: subject });
const deliver = (subject: string, from = { name: 'Ada Lovelace', address: 'ada@example.test' }) =>
  dovecot.deliver(mailbox.email, buildMessage({ from, to: mailbox.email, subject }));
const connection = () => page.locator('#connection');

describe('the web app', () => {
  test('registers a mailbox through the form, pre-filled from the gateway, with a clear error for a wrong password', async () => {
    await page.goto(base);
    await page.locator('#view-register').waitFor();
    // The fields are filled from GET /v1/config, which may answer after the view shows.
    await waitFor(async () => (await page.inputValue('#register-host')) !== '', { timeoutMs: 5000, what: 'the server fields to be pre-filled' });
    assert.equal(await page.inputValue('#register-host'), '127.0.0.1');
    assert.equal(await page.inputValue('#register-port'), String(dovecot.imapPort));
    assert.equal(await page.inputValue('#register-security'), 'none');
    assert.equal(await page.locator('#register-server').getAttribute('open'), null, 'server settings start folded away');
    await screenshot('register');

    mailbox = await dovecot.addUser();
    await page.getByLabel('Email address').fill(mailbox.email);
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.locator('#register-error').waitFor();
    assert.match(await page.locator('#register-error').innerText(), /did not accept this email address and password/);

    await page.getByLabel('Password').fill(mailbox.pass);
    await page.keyboard.press('Enter'); // the form works from the keyboard
    await page.locator('#view-mail').waitFor();
    token = (await stored('mailpush.token'))!;
    assert.ok(token, 'the token is stored on the device');
    const accounts = await api(base, 'GET', '/v1/accounts', { token });
    assert.deepEqual(accounts.body.accounts.map((a: { email: string }) => a.email), [mailbox.email]);
  });

  test('delivered mail shows sender and subject in the feed within 2 s, newest on top, with the unread count in the title', async () => {
    await waitFor(async () => (await api(base, 'GET', '/v1/accounts', { token })).body.accounts[0].state === 'idle', { timeoutMs: 10_000, what: 'IDLE' });
    await waitFor(async () => (await connection().innerText()) === 'Live', { timeoutMs: 5000, what: 'the stream to be live' });
    const sentAt = Date.now();
    await deliver('Analytical engine');
    await feedItem('Analytical engine').waitFor({ timeout: 2000 });
    assert.ok(Date.now() - sentAt <= 2000, `shown after ${Date.now() - sentAt} ms`);
    assert.match(await feedItem('Analytical engine').innerText(), /Ada Lovelace/);

    await deliver('Difference engine', { name: 'Charles Babbage', address: 'charles@example.test' });
    await feedItem('Difference engine').waitFor({ timeout: 2000 });
    assert.match(await page.locator('#feed > li').first().innerText(), /Charles Babbage[\s\S]*Difference engine/, 'newest on top');
    await waitFor(async () => (await page.title()) === '(2) mailpush', { timeoutMs: 2000, what: 'the unread count in the title' });
    await screenshot('feed');
  });

  test('the manifest parses, the service worker is active, and the app starts offline from its cache', async () => {
    const manifest = await page.evaluate(`fetch('/manifest.webmanifest').then((r) => r.json())`) as {
      name: string; short_name: string; start_url: string; display: string; theme_color: string;
      icons: Array<{ src: string; sizes: string; type: string; purpose: string }>;
    };
    assert.equal(manifest.name, 'mailpush');
    assert.ok(manifest.short_name);
    assert.equal(manifest.display, 'standalone');
    assert.match(manifest.theme_color, /^#[0-9a-f]{6}$/i);
    assert.ok(manifest.start_url.startsWith('/'));
    for (const [size, purpose] of [[192, 'any'], [512, 'any'], [512, 'maskable']] as const) {
      const icon = manifest.icons.find((i) => i.sizes === `${size}x${size}` && i.purpose === purpose);
      assert.ok(icon, `a ${size} px ${purpose} icon`);
      const png = Buffer.from(await (await fetch(new URL(icon.src, base))).arrayBuffer());
      assert.equal(png.subarray(1, 4).toString(), 'PNG');
      assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [size, size], `${icon.src} is ${size}×${size}`);
    }
    assert.equal(await page.evaluate(`navigator.serviceWorker.ready.then((r) => r.active.state)`), 'activated');

    await context.setOffline(true);
    try {
      await page.reload();
      await page.locator('#view-mail').waitFor();
      assert.equal(await page.evaluate('navigator.serviceWorker.controller !== null'), true, 'the page is served by the worker');
      await feedItem('Difference engine').waitFor(); // the stored feed, without the network
    } finally {
      await context.setOffline(false);
    }
    await waitFor(async () => (await connection().innerText()) === 'Live', { timeoutMs: 20_000, what: 'the stream to come back after going online' });
  });

  test('a WebSocket killed on the server side resumes from the last stored id: mail sent meanwhile shows exactly once', async () => {
    const lastId = await lastStoredEventId();
    assert.ok(lastId, 'the feed stored the id of its last event');
    const sentFrames: string[] = [];
    page.on('websocket', (socket) => socket.on('framesent', (frame) => sentFrames.push(String(frame.payload))));

    const port = Number(new URL(base).port);
    await web.kill('SIGKILL');
    await waitFor(async () => /Reconnecting|Offline/.test(await connection().innerText()), { timeoutMs: 5000, what: 'the app to notice the drop' });
    await deliver('While you were away, one');
    await deliver('While you were away, two');
    // Both are in the event log before the app can reconnect, so only the resume can bring them.
    await waitFor(async () => (await api(probe.url!, 'GET', `/v1/events?since=${lastId}`, { token })).body.events.filter((e: { type: string }) => e.type === 'mail.new').length === 2, { timeoutMs: 10_000, what: 'both mails in the log' });
    web = await fixtures.mailpush('web', env, { port });

    await feedItem('While you were away, one').waitFor({ timeout: 20_000 });
    await feedItem('While you were away, two').waitFor({ timeout: 5000 });
    await waitFor(async () => (await connection().innerText()) === 'Live', { timeoutMs: 5000, what: 'live again' });
    // A sentinel mail after the case: anything the resume duplicated would have come before it.
    await deliver('Back to normal');
    await feedItem('Back to normal').waitFor({ timeout: 10_000 });
    assert.equal(await feedItem('While you were away, one').count(), 1);
    assert.equal(await feedItem('While you were away, two').count(), 1);
    assert.equal(await page.locator('#feed > li').count(), 5);
    assert.match(await page.locator('#feed > li').first().innerText(), /Back to normal/, 'newest on top');
    assert.match(await page.locator('#feed > li').nth(1).innerText(), /away, two/, 'newest on top');
    const resumed = sentFrames.map((f) => JSON.parse(f) as { type: string; since?: string }).find((f) => f.type === 'auth');
    assert.equal(resumed?.since, lastId, 'the reconnect resumed after the last stored event');
  });

  test('a socket that goes silent without closing (a frozen server, a NAT that forgot it) is replaced after two unanswered pings', async () => {
    // The page's own clock, so that its 25 s pings and 55 s silence limit pass in a moment.
    await page.clock.install();
    await page.reload();
    await waitFor(async () => (await connection().innerText()) === 'Live', { timeoutMs: 10_000, what: 'live after the reload' });
    const lastId = await lastStoredEventId();
    const sentFrames: string[] = [];
    page.on('websocket', (socket) => socket.on('framesent', (frame) => sentFrames.push(String(frame.payload))));
    process.kill(web.pid, 'SIGSTOP'); // the socket stays open; nothing answers on it
    try {
      await page.clock.fastForward(30_000);
      assert.equal(await connection().innerText(), 'Live', 'one unanswered ping is not yet a dead connection');
      await page.clock.fastForward(30_000);
      await waitFor(async () => /Reconnecting|Offline/.test(await connection().innerText()), { timeoutMs: 5000, what: 'the app to give the silent socket up' });
    } finally {
      process.kill(web.pid, 'SIGCONT');
    }
    await waitFor(async () => (await connection().innerText()) === 'Live', { timeoutMs: 20_000, what: 'live again on a new socket' });
    const auth = sentFrames.map((f) => JSON.parse(f) as { type: string; since?: string }).find((f) => f.type === 'auth');
    assert.equal(auth?.since, lastId, 'the new socket resumed after the last stored event');
    assert.equal(await page.locator('#feed > li').count(), 5, 'nothing shown twice');
  });

  test('the accounts screen shows the live state and unread count, and a password can be fixed', async () => {
    await page.getByRole('link', { name: 'Accounts' }).click();
    const account = page.locator('#accounts > li', { hasText: mailbox.email });
    await account.waitFor();
    await waitFor(async () => (await account.locator('.state').innerText()) === 'Connected', { timeoutMs: 5000, what: 'the state' });
    await waitFor(async () => (await account.locator('.unread').innerText()) === '5 unread', { timeoutMs: 5000, what: 'the unread count' });
    await screenshot('accounts');

    await account.getByRole('button', { name: 'Change password' }).click();
    const field = page.getByLabel(`New password for ${mailbox.email}`);
    await field.fill('wrong-again');
    await account.getByRole('button', { name: 'Save password' }).click();
    await account.locator('.error').waitFor();
    assert.match(await account.locator('.error').innerText(), /did not accept/);
    await page.getByLabel(`New password for ${mailbox.email}`).fill(mailbox.pass);
    await account.getByRole('button', { name: 'Save password' }).click();
    await page.locator('#accounts-message', { hasText: 'works' }).waitFor();
    await waitFor(async () => (await account.locator('.state').innerText()) === 'Connected', { timeoutMs: 10_000, what: 'connected again' });
  });

  test('the folder chooser lists the server\'s folders with INBOX always on, and mail filed into a chosen folder reaches the feed', async () => {
    await dovecot.doveadm(['mailbox', 'create', '-u', mailbox.user, 'Work', 'Lists']);
    const account = page.locator('#accounts > li', { hasText: mailbox.email });
    await account.getByRole('button', { name: 'Choose folders' }).click();
    const chooser = page.getByRole('form', { name: `Choose the folders of ${mailbox.email} to watch` });
    const inbox = chooser.getByLabel('INBOX (always)');
    await inbox.waitFor();
    assert.deepEqual([await inbox.isChecked(), await inbox.isDisabled()], [true, true]);
    assert.deepEqual((await chooser.locator('label.folder').allInnerTexts()).map((text) => text.trim()).sort(), ['INBOX (always)', 'Lists', 'Work']);
    assert.match(await chooser.innerText(), /watch up to 20 folders/);
    await chooser.getByLabel('Work').check();
    await chooser.getByRole('button', { name: 'Save folders' }).click();
    await page.locator('#accounts-message', { hasText: 'now notifies the folders you chose' }).waitFor();
    await waitFor(async () => (await account.locator('.account-server').innerText()).endsWith('INBOX, Work'), { timeoutMs: 5000, what: 'the watched folders' });
    await waitFor(async () => (await account.locator('.state').innerText()) === 'Connected', { timeoutMs: 10_000, what: 'connected with Work' });

    // Another mail client files a message into Work: the gateway watches it now.
    const phone = new ImapFlow({ host: '127.0.0.1', port: dovecot.imapPort, secure: false, doSTARTTLS: false, auth: { user: mailbox.user, pass: mailbox.pass }, logger: false });
    phone.on('error', () => undefined);
    await phone.connect();
    await phone.append('Work', buildMessage({ from: { address: 'boss@example.test' }, to: mailbox.email, subject: 'Filed into Work' }));
    await phone.logout();
    await page.locator('nav a[data-view="mail"]').click();
    await feedItem('Filed into Work').waitFor({ timeout: 10_000 });
  });

  test('every screen fits a 360 px phone without sideways scrolling, and its text meets WCAG AA contrast', async () => {
    await page.setViewportSize({ width: 360, height: 740 });
    try {
      for (const view of ['mail', 'accounts', 'devices', 'settings']) {
        await page.getByRole('link', { name: new RegExp(`^${view}`, 'i') }).click();
        await page.locator(`#view-${view}`).waitFor();
        assert.ok(await page.evaluate('document.documentElement.scrollWidth <= 360'), `${view} fits 360 px`);
        assert.deepEqual(await page.evaluate(LOW_CONTRAST), [], `text contrast on ${view}`);
      }
    } finally {
      await page.setViewportSize(DESKTOP);
    }
  });

  test('notifications: the button subscribes, a push becomes a notification, a dismiss closes it, read mail updates in place', async () => {
    await turnOnNotifications(page, { base, token }, 'full', undefined, push.origin);

    await deliver('Compiler ready', { name: 'Grace Hopper', address: 'grace@example.test' });
    const received = await waitFor(() => push.received.find((r) => r.name === 'browser' && r.payload.type === 'mail.new'), { timeoutMs: 10_000, what: 'the push' });
    assert.equal(received.payload.title, 'Grace Hopper');
    const worker = await ServiceWorkerPush.attach(page, base);
    try {
      const showing = async () => (await shownNotifications(page)).find((n) => n.tag === received.payload.tag);
      await worker.deliverUntil(received.payload, async () => (await showing()) !== undefined, 'the notification');
      const shown = (await showing())!;
      assert.equal(shown.title, 'Grace Hopper');
      assert.match(shown.body, /^Compiler ready/);

      // Read on another device: the gateway sends a dismiss for the same tag.
      const uid = Number(String(received.payload.tag).split(':').pop());
      const phone = new ImapFlow({ host: '127.0.0.1', port: dovecot.imapPort, secure: false, doSTARTTLS: false, auth: { user: mailbox.user, pass: mailbox.pass }, logger: false });
      phone.on('error', () => undefined);
      await phone.connect();
      await phone.mailboxOpen('INBOX');
      await phone.messageFlagsAdd(String(uid), ['\\Seen'], { uid: true });
      await phone.logout();
      const dismiss = await waitFor(() => push.received.find((r) => r.name === 'browser' && r.payload.type === 'dismiss'), { timeoutMs: 10_000, what: 'the dismiss' });
      assert.deepEqual(dismiss.payload.tags, [received.payload.tag]);
      await worker.deliverUntil(dismiss.payload, async () => (await showing()) === undefined, 'the notification to close');
    } finally {
      await worker.detach();
    }
    await page.getByRole('link', { name: /^Mail/ }).click();
    await waitFor(async () => (await feedItem('Compiler ready').getAttribute('class'))?.includes('read'), { timeoutMs: 5000, what: 'the item marked read in place' });
  });

  test('pushsubscriptionchange: the service worker moves the gateway to the new subscription, and the page adopts it', async () => {
    const before = (await api(base, 'GET', '/v1/push/subscriptions', { token })).body.subscriptions as Array<{ id: string }>;
    assert.equal(before.length, 1);
    // The push service replaced the subscription: the browser fires pushsubscriptionchange with the
    // new one. Played by hand, since headless Chromium has no push service to do it.
    const renewed = push.subscribe('renewed');
    const [worker] = page.context().serviceWorkers();
    assert.ok(worker, 'the service worker is running');
    await worker.evaluate(`((subscription) => {
      const newSubscription = {
        endpoint: subscription.endpoint,
        options: { userVisibleOnly: true, applicationServerKey: null },
        toJSON: () => ({ endpoint: subscription.endpoint, expirationTime: null, keys: subscription.keys }),
      };
      const event = new Event('pushsubscriptionchange');
      Object.defineProperties(event, { oldSubscription: { value: null }, newSubscription: { value: newSubscription } });
      self.dispatchEvent(event);
    })(${JSON.stringify(renewed)})`);
    const after = await waitFor(async () => {
      const list = (await api(base, 'GET', '/v1/push/subscriptions', { token })).body.subscriptions as Array<{ id: string; preview: string }>;
      return list.length === 1 && list[0]!.id !== before[0]!.id ? list : undefined;
    }, { timeoutMs: 5000, what: 'the gateway to hold only the new subscription' });
    assert.equal(after[0]!.preview, 'full', 'the preview level carried over');
    await waitFor(async () => (await stored('mailpush.pushSubscriptionId')) === after[0]!.id, { timeoutMs: 5000, what: 'the page to adopt the new id' });
    await deliver('After renewal', { name: 'Grace Hopper', address: 'grace@example.test' });
    await waitFor(() => push.received.find((r) => r.name === 'renewed' && r.payload.type === 'mail.new'), { timeoutMs: 10_000, what: 'a push to the new endpoint' });
  });

  test('the Content-Security-Policy allows no inline script, and the API docs still work under it', async () => {
    const response = await fetch(base);
    const csp = response.headers.get('content-security-policy') ?? '';
    const scriptSrc = /script-src ([^;]*)/.exec(csp)?.[1] ?? '';
    assert.equal(scriptSrc.trim(), "'self'");
    assert.match(csp, /connect-src 'self'/);
    assert.match(csp, /style-src 'self'(;|$)/, 'the app needs no inline style either');
    const docsCsp = (await fetch(`${base}/docs/`)).headers.get('content-security-policy') ?? '';
    assert.equal(/script-src ([^;]*)/.exec(docsCsp)?.[1]?.trim(), "'self'", 'the docs run no inline script either');
    const docs = await context.newPage();
    const docsProblems: string[] = [];
    docs.on('console', (message) => message.type() === 'error' && docsProblems.push(message.text()));
    try {
      await docs.goto(`${base}/docs/`);
      await docs.locator('.opblock').first().waitFor({ timeout: 10_000 });
      assert.deepEqual(docsProblems.filter((p) => /Content Security Policy/i.test(p)), []);
    } finally {
      await docs.close();
    }
    assert.deepEqual(pageProblems, [], 'no CSP violation, uncaught error or external request in the app');
  });

  test('removing a mailbox asks first, then the gateway forgets it and its state leaves the screen', async () => {
    await page.getByRole('link', { name: 'Accounts' }).click();
    const account = page.locator('#accounts > li', { hasText: mailbox.email });
    await account.waitFor();
    page.once('dialog', (dialog) => void dialog.dismiss());
    await account.getByRole('button', { name: `Remove ${mailbox.email}` }).click();
    assert.equal((await api(base, 'GET', '/v1/accounts', { token })).body.accounts.length, 1, 'cancelled: nothing removed');
    page.once('dialog', (dialog) => void dialog.accept());
    await account.getByRole('button', { name: `Remove ${mailbox.email}` }).click();
    await page.locator('#accounts-message', { hasText: 'was removed' }).waitFor();
    await waitFor(async () => (await page.locator('#accounts > li', { hasText: mailbox.email }).count()) === 0, { timeoutMs: 5000, what: 'the account to leave the list' });
    assert.deepEqual((await api(base, 'GET', '/v1/accounts', { token })).body.accounts, []);
  });

  test('sign-out removes this device on the gateway, forgets the token and the feed, and removes the push subscription', async () => {
    // A second device of the same user, to look at what the gateway keeps after this one is gone.
    const pairing = await api(base, 'POST', '/v1/pairings', { token });
    const other = (await api(base, 'POST', '/v1/pairings/claim', { body: { code: pairing.body.code } })).body.token as string;
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#view-register').waitFor();
    assert.equal(await stored('mailpush.token'), null);
    assert.equal(await stored('mailpush.feed'), null);
    assert.equal(await page.locator('#tabs').isVisible(), false);
    assert.equal((await api(base, 'GET', '/v1/accounts', { token })).status, 401, 'the token no longer works');
    assert.deepEqual((await api(base, 'GET', '/v1/push/subscriptions', { token: other })).body.subscriptions, []);
    assert.equal((await api(base, 'GET', '/v1/devices', { token: other })).body.devices.length, 1, 'only the other device is left');
    await page.reload();
    await page.locator('#view-register').waitFor();
  });
});
