// The web app in Japanese: a Chromium context whose locale is ja-JP (navigator.languages and
// Accept-Language), against real web and worker processes, Dovecot and the loopback push service,
// as in pwa.test.ts. The UI and the notifications the service worker builds from push payloads are
// Japanese; the language switch in Settings turns both to English and survives a reload.
// Screenshots of the main screens in both languages go to test-artifacts/screenshots
// (UPDATE_SCREENSHOTS=1 also copies them to docs/screenshots for the README).

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { LOW_CONTRAST, replacePushSubscription, ServiceWorkerPush, shownNotifications, turnOnNotifications } from '../helpers/browser.js';
import type { Dovecot, DovecotUser } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import { DESKTOP, saveDesktopAndPhoneScreenshots, watchPageProblems } from '../helpers/page-checks.js';
import { gatewayEnv } from '../helpers/gateway-env.js';
import { api } from '../helpers/gateway.js';
import { buildMessage } from '../helpers/message.js';
import type { PushService } from '../helpers/push-service.js';
import { waitFor } from '../helpers/wait.js';
import { pushFor } from '../../src/push/payload.js';
import type { MailEvent } from '../../src/core/types.js';


let dovecot: Dovecot;
let push: PushService;
let base: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const pageProblems: string[] = [];
let mailbox: DovecotUser;
let token: string;

const fixtures = useFixtures();

before(async () => {
  let redis;
  [dovecot, redis, push] = await Promise.all([fixtures.dovecot(), fixtures.redis(), fixtures.pushService()]);
  const env = gatewayEnv({ redisUrl: redis.url, imapPort: dovecot.imapPort, push });
  let web;
  [, web, browser] = await Promise.all([fixtures.mailpush('worker', env), fixtures.mailpush('web', env), fixtures.chromium()]);
  base = web.url!;
  context = await browser.newContext({ viewport: DESKTOP, locale: 'ja-JP' });
  await context.grantPermissions(['notifications'], { origin: base });
  await replacePushSubscription(context, push.subscribe('browser'));
  page = await context.newPage();
  watchPageProblems(page, pageProblems);
});

const screenshot = (name: string) => saveDesktopAndPhoneScreenshots(page, name);

const htmlLang = () => page.evaluate('document.documentElement.lang') as Promise<string>;
const heading = (view: string) => page.locator(`#view-${view} h2`).first();
const deliver = (subject: string, from = { name: 'Ada Lovelace', address: 'ada@example.test' }) =>
  dovecot.deliver(mailbox.email, buildMessage({ from, to: mailbox.email, subject }));
/** The tabs' names, without the unread count the first one may carry. */
const tabNames = () => page.locator('#tabs a > [data-i18n], #tabs a[data-i18n]').allInnerTexts();
const feedItem = (subject: string) => page.locator('#feed > li', { hasText: subject });

/** Tags of the pushes already handed to the worker: each test takes the next new one. */
const shownTags = new Set<string>();

/** Hands the push the gateway sent for `subject` to the page's service worker; answers what it showed. */
async function notificationFor(subject: string): Promise<{ title: string; body: string }> {
  const received = await waitFor(() => push.received.find((r) => r.name === 'browser' && r.payload.type === 'mail.new' && !shownTags.has(String(r.payload.tag))), {
    timeoutMs: 10_000, what: `the push for ${subject}`,
  });
  const tag = String(received.payload.tag);
  shownTags.add(tag);
  return showInWorker(received.payload, tag);
}

async function showInWorker(payload: unknown, tag: string): Promise<{ title: string; body: string }> {
  const worker = await ServiceWorkerPush.attach(page, base);
  try {
    const showing = async () => (await shownNotifications(page)).find((n) => n.tag === tag);
    await worker.deliverUntil(payload, async () => (await showing()) !== undefined, `the notification ${tag}`);
    const { title, body } = (await showing())!;
    return { title, body };
  } finally {
    await worker.detach();
  }
}

describe('the web app in Japanese', () => {
  test('a ja-JP browser gets the app in Japanese, <html lang="ja">, and registers through the Japanese form', async () => {
    await page.goto(base);
    await page.locator('#view-register').waitFor();
    assert.equal(await htmlLang(), 'ja');
    assert.equal(await heading('register').innerText(), 'メールアカウントで始める');
    await waitFor(async () => (await page.inputValue('#register-host')) !== '', { timeoutMs: 5000, what: 'the server fields to be pre-filled' });
    await screenshot('register-ja');

    mailbox = await dovecot.addUser();
    await page.getByLabel('メールアドレス').fill(mailbox.email);
    await page.getByLabel('パスワード').fill('not-the-password');
    await page.getByRole('button', { name: '続ける' }).click();
    await page.locator('#register-error').waitFor();
    assert.match(await page.locator('#register-error').innerText(), /メールアドレスとパスワードを受け付けませんでした/);

    await page.getByLabel('パスワード').fill(mailbox.pass);
    await page.keyboard.press('Enter');
    await page.locator('#view-mail').waitFor();
    token = (await page.evaluate(`localStorage.getItem('mailpush.token')`)) as string;
    assert.ok(token);
    assert.equal(await heading('mail').innerText(), '新着メール');
    assert.deepEqual(await tabNames(), ['メール', 'アカウント', '端末', '設定']);
  });

  test('mail in the feed and the accounts screen speak Japanese: 受信中, たった今, 未読 1 件, the webmail link form', async () => {
    await waitFor(async () => (await api(base, 'GET', '/v1/accounts', { token })).body.accounts[0].state === 'idle', { timeoutMs: 10_000, what: 'IDLE' });
    await waitFor(async () => (await page.locator('#connection').innerText()) === '受信中', { timeoutMs: 5000, what: 'the stream to be live' });
    await deliver('解析機関について');
    await feedItem('解析機関について').waitFor({ timeout: 5000 });
    assert.equal(await feedItem('解析機関について').locator('time').innerText(), 'たった今');
    await screenshot('feed-ja');

    await page.getByRole('link', { name: 'アカウント' }).click();
    const account = page.locator('#accounts > li', { hasText: mailbox.email });
    await waitFor(async () => (await account.locator('.state').innerText()) === '接続済み', { timeoutMs: 5000, what: 'the state' });
    await waitFor(async () => (await account.locator('.unread').innerText()) === '未読 1 件', { timeoutMs: 5000, what: 'the unread count' });
    assert.equal(await account.getByRole('button', { name: `${mailbox.email} を削除` }).count(), 1, 'labelled in Japanese');
    // The webmail link form explains itself and refuses a template in Japanese.
    await account.getByRole('button', { name: 'Web メールへのリンク' }).click();
    await page.getByLabel('Web メールでのメッセージのアドレス').fill('http://webmail.example.test/{uid}');
    await page.getByRole('button', { name: 'リンクを保存' }).click();
    await account.getByRole('alert').filter({ hasText: 'https:// で始まる完全なアドレスを入力してください。使えるプレースホルダーは {uid} と {mailbox} だけです。' }).waitFor();
    await account.getByRole('button', { name: 'Web メールへのリンク' }).click();
    await screenshot('accounts-ja');
  });

  test('in Japanese too, every screen fits a 360 px phone and its text meets WCAG AA contrast', async () => {
    await page.setViewportSize({ width: 360, height: 740 });
    try {
      for (const [view, name] of [['mail', 'メール'], ['accounts', 'アカウント'], ['devices', '端末'], ['settings', '設定']] as const) {
        await page.getByRole('link', { name: new RegExp(`^${name}`) }).click();
        await page.locator(`#view-${view}`).waitFor();
        assert.ok(await page.evaluate('document.documentElement.scrollWidth <= 360'), `${view} fits 360 px`);
        assert.deepEqual(await page.evaluate(LOW_CONTRAST), [], `text contrast on ${view}`);
      }
    } finally {
      await page.setViewportSize(DESKTOP);
    }
  });

  test('pushes become Japanese notifications: 新着メール with 未読 n 件, 新着メール n 件 for a batch, and the OAuth sign-in-again push', async () => {
    await turnOnNotifications(page, { base, token }, 'none', { settings: '設定', turnOn: '通知をオンにする', on: 'この端末の通知はオンです。', show: '通知に表示する内容' });
    await screenshot('settings-ja');

    await deliver('階差機関');
    const shown = await notificationFor('階差機関');
    assert.deepEqual(shown, { title: '新着メール', body: '未読 2 件' });

    // A batch (many new messages at once), as the gateway shapes it (test/unit/push-payload.test.ts).
    const accountId = (await api(base, 'GET', '/v1/accounts', { token })).body.accounts[0].id as string;
    const batch = { v: 1, type: 'mail.batch', accountId, mailbox: 'INBOX', tag: `${accountId}:INBOX:batch`, title: '3 new messages', body: '5 unread', count: 3, unseen: 5 };
    assert.deepEqual(await showInWorker(batch, batch.tag), { title: '新着メール 3 件', body: '未読 5 件' });

    // An OAuth mailbox whose provider refused the refresh: the push the gateway makes of its
    // account.state event (oauth.test.ts sends it for real), shown in the device's language.
    const reauthEvent = { id: '9-0', type: 'account.state', accountId, mailbox: null, time: new Date().toISOString(), data: { state: 'reauth_required', error: 'sign in with Test IdP again' } } as MailEvent<'account.state'>;
    const reauth = pushFor(reauthEvent, 'none')!.payload;
    assert.deepEqual(await showInWorker(reauth, reauth.tag!), {
      title: 'メールを受け取り続けるには、もう一度サインインしてください',
      body: 'メールプロバイダーが mailpush のサインインを受け付けなくなりました。mailpush を開いてもう一度サインインしてください。',
    });
  });

  test('switching to English in Settings changes the UI at once and after a reload, and notifications follow', async () => {
    await page.getByRole('link', { name: '設定' }).click();
    await page.getByLabel('アプリと通知の言語').selectOption('en');
    assert.equal(await htmlLang(), 'en');
    assert.equal(await heading('settings').innerText(), 'Notifications');
    assert.deepEqual(await tabNames(), ['Mail', 'Accounts', 'Devices', 'Settings']);
    await page.locator('#push-state', { hasText: 'Notifications are on for this device.' }).waitFor();
    await screenshot('settings-en');

    await page.reload();
    await page.locator('#view-settings').waitFor();
    assert.equal(await htmlLang(), 'en', 'the choice is kept on the device');
    assert.equal(await page.inputValue('#language'), 'en');
    assert.equal(await page.getByRole('link', { name: 'Accounts' }).count(), 1);
    assert.match(await page.locator('#push-state').innerText(), /^Notifications are on/);

    await deliver('Back in English');
    assert.deepEqual(await notificationFor('Back in English'), { title: 'New mail', body: '3 unread' });

    // "Same as the browser" goes back to the browser's Japanese.
    await page.getByLabel('Language of the app and its notifications').selectOption('auto');
    assert.equal(await htmlLang(), 'ja');
    assert.equal(await heading('settings').innerText(), '通知');
    assert.deepEqual(pageProblems, [], 'no uncaught error or CSP violation');
  });
});
