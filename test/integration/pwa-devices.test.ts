// One person, many devices, in the web app: headless Chromium contexts as a phone, a laptop, a
// third device paired by code and a Japanese one, against real `mailpush` web and worker processes
// (Redis mode), a real Dovecot fed through LMTP and the loopback push service. The phone and the
// laptop sign in with the same mailbox; the laptop pairs a third device through the QR code's link;
// removing the phone from the laptop signs it out at once; "Delete my data" erases the user; a
// second web process with 3-second codes shows one expire.
// Phone-size screenshots of every new screen, in English and Japanese, go to
// test-artifacts/screenshots (UPDATE_SCREENSHOTS=1 also copies them to docs/screenshots for the README).

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import {
  assertReadableAtPhoneWidth, DevicePages, deviceItem, feedItem, NARROW_PHONE as PHONE, phoneScreenshot as screenshot, showDevices, shownCode, signedOutNotice, signIn, storedToken, submitSignIn,
} from '../helpers/device-pages.js';
import type { Dovecot, DovecotUser } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import { DESKTOP } from '../helpers/page-checks.js';
import { gatewayEnv } from '../helpers/gateway-env.js';
import { api } from '../helpers/gateway.js';
import { buildMessage } from '../helpers/message.js';
import { waitFor } from '../helpers/wait.js';

let dovecot: Dovecot;
let base: string;
/** A second web process on the same Redis whose pairing codes live 3 s: to watch one expire. */
let shortCodesBase: string;
let devicePages: DevicePages;

let phone: Page;
let laptop: Page;
let third: Page;
let japanese: Page;
let mailbox: DovecotUser;
const tokens: Record<'phone' | 'laptop' | 'third' | 'japanese', string> = { phone: '', laptop: '', third: '', japanese: '' };

const fixtures = useFixtures();

before(async () => {
  let redis, push;
  [dovecot, redis, push] = await Promise.all([fixtures.dovecot(), fixtures.redis(), fixtures.pushService()]);
  const env = gatewayEnv({ redisUrl: redis.url, imapPort: dovecot.imapPort, push });
  let web, shortCodesWeb, browser;
  [, web, shortCodesWeb, browser, mailbox] = await Promise.all([
    fixtures.mailpush('worker', env), fixtures.mailpush('web', env), fixtures.mailpush('web', { ...env, PAIRING_TTL_SECONDS: '3' }),
    fixtures.chromium(), dovecot.addUser(),
  ]);
  base = web.url!;
  shortCodesBase = shortCodesWeb.url!;
  devicePages = new DevicePages(browser, push);
  [phone, laptop, third, japanese] = await Promise.all([
    devicePages.open(PHONE, 'en-US', base), devicePages.open(DESKTOP, 'en-US', base), devicePages.open(PHONE, 'en-US', base), devicePages.open(PHONE, 'ja-JP', base),
  ]);
});

const deliver = (subject: string) =>
  dovecot.deliver(mailbox.email, buildMessage({ from: { name: 'Ada Lovelace', address: 'ada@example.test' }, to: mailbox.email, subject }));

describe('one person, many devices, in the web app', () => {
  test('the phone and the laptop sign in with the same mailbox: one user, two devices, and both show new mail live', async () => {
    await phone.goto(base);
    await phone.locator('#view-register').waitFor();
    assert.equal(await phone.locator('#view-register h2').innerText(), 'Use your mailbox');
    assert.equal(await phone.getByRole('link', { name: 'I have a pairing code' }).count(), 1);
    await screenshot(phone, 'start-en');

    tokens.phone = await signIn(phone, base, mailbox);
    tokens.laptop = await signIn(laptop, base, mailbox);
    assert.notEqual(tokens.phone, tokens.laptop, 'each device has a token of its own');

    const devices = await api(base, 'GET', '/v1/devices', { token: tokens.laptop });
    assert.equal(devices.status, 200);
    assert.equal(devices.body.devices.length, 2, 'one user with two devices');
    assert.deepEqual(devices.body.devices.map((d: { current: boolean }) => d.current).sort(), [false, true]);
    const [phoneAccounts, laptopAccounts] = await Promise.all([tokens.phone, tokens.laptop].map((token) => api(base, 'GET', '/v1/accounts', { token })));
    assert.deepEqual(phoneAccounts!.body.accounts.map((a: { id: string }) => a.id), laptopAccounts!.body.accounts.map((a: { id: string }) => a.id), 'one account for both');
    assert.equal(laptopAccounts!.body.accounts.length, 1);

    await waitFor(async () => (await api(base, 'GET', '/v1/accounts', { token: tokens.laptop })).body.accounts[0].state === 'idle', { timeoutMs: 10_000, what: 'IDLE' });
    for (const page of [phone, laptop]) {
      await waitFor(async () => (await page.locator('#connection').innerText()) === 'Live', { timeoutMs: 5000, what: 'the stream to be live' });
    }
    await deliver('On the analytical engine');
    await Promise.all([phone, laptop].map((page) => feedItem(page, 'On the analytical engine').waitFor({ timeout: 5000 })));
  });

  test('the phone renames itself on its Devices screen; the list shows this device and when each was last seen', async () => {
    await showDevices(phone, 2);
    const mine = phone.locator('#devices > li', { has: phone.locator('.badge', { hasText: 'This device' }) });
    assert.equal(await mine.count(), 1, 'exactly one device is this one');
    assert.match(await mine.locator('.device-facts').innerText(), /^Last seen (just now|\d+ minutes? ago) · Added /);
    await mine.getByRole('button', { name: /^Rename / }).click();
    const field = phone.getByLabel(/^New name for /);
    assert.match(await phone.evaluate('document.activeElement.id') as string, /^name-/, 'the name field has the focus');
    await field.fill('Phone');
    await phone.keyboard.press('Enter');
    await deviceItem(phone, 'Phone').waitFor();
    assert.match(await phone.locator('#devices-message').innerText(), /now called Phone/);
    await screenshot(phone, 'devices-en');

    // Every control on the screen is reached with Tab, each with a name saying which device it acts on.
    await phone.locator('#devices-title').focus();
    const reached: string[] = [];
    for (let i = 0; i < 5; i++) {
      await phone.keyboard.press('Tab');
      reached.push((await phone.evaluate(`document.activeElement.getAttribute('aria-label') || document.activeElement.textContent`)) as string);
    }
    const other = (await phone.locator('#devices .device-name').allInnerTexts()).find((name) => name !== 'Phone')!;
    assert.deepEqual(reached.sort(), [`Remove ${other}`, 'Remove Phone', `Rename ${other}`, 'Rename Phone', 'Add a device'].sort());
    const devices = await api(base, 'GET', '/v1/devices', { token: tokens.laptop });
    assert.deepEqual(devices.body.devices.filter((d: { name: string }) => d.name === 'Phone').length, 1);
  });

  test('the laptop shows a pairing code as a QR code of its link; opening the link on a third device asks, then signs it in', async () => {
    await showDevices(laptop, 2);
    const answer = laptop.waitForResponse((response) => response.url() === `${base}/v1/pairings` && response.request().method() === 'POST');
    await laptop.getByRole('button', { name: 'Add a device' }).click();
    const pairing = (await (await answer).json()) as { code: string; url: string; expiresAt: string };
    await laptop.locator('#pairing-qr svg').waitFor();
    assert.equal(await shownCode(laptop), `${pairing.code.slice(0, 5)} ${pairing.code.slice(5)}`, 'the code in two groups');
    assert.match(await laptop.locator('#pairing-expiry').innerText(), /^Expires in [45]:\d\d$/);
    // A QR code of a URL this long has at least 25 × 25 modules, some hundred of them dark.
    const darkModules = await laptop.locator('#pairing-qr svg path').evaluate((path) => (path.getAttribute('d') ?? '').split('M').length - 1);
    assert.ok(darkModules > 100, `${darkModules} dark modules`);
    assert.equal(await laptop.locator('#pairing-qr').getAttribute('aria-label'), 'QR code that signs a new device in');
    await screenshot(laptop, 'add-device-en');

    await third.goto(pairing.url);
    await third.locator('#view-pair').waitFor();
    assert.equal(await third.inputValue('#pair-code'), pairing.code);
    assert.match(await third.locator('#pair-lead').innerText(), /Continue only if you asked for the code yourself/);
    assert.equal(await storedToken(third), null, 'nothing is claimed before the person confirms');
    await screenshot(third, 'pair-confirm-en');
    await third.getByRole('button', { name: 'Sign in this device' }).click();
    await third.locator('#view-mail').waitFor();
    tokens.third = (await storedToken(third))!;
    assert.ok(tokens.third);
    assert.doesNotMatch(await third.evaluate('location.hash') as string, /code=/, 'the used code leaves the address bar');
    await waitFor(async () => (await third.locator('#connection').innerText()) === 'Live', { timeoutMs: 5000, what: 'the third device to be live' });
    await deliver('Notes by the translator');
    await feedItem(third, 'Notes by the translator').waitFor({ timeout: 5000 });

    // The laptop notices by itself: the used code goes away and the new device is on the list.
    await laptop.locator('#devices-message', { hasText: 'is signed in. It is on the list below.' }).waitFor({ timeout: 10_000 });
    assert.equal(await laptop.locator('#pairing-panel').isHidden(), true);
    assert.equal(await laptop.locator('#devices > li').count(), 3);
    assert.equal((await api(base, 'POST', '/v1/pairings/claim', { body: { code: pairing.code } })).status, 400, 'the code is used up');
  });

  test('removing the phone from the laptop (after a confirmation) signs the phone out at once, with a message', async () => {
    await deviceItem(laptop, 'Phone').getByRole('button', { name: 'Remove Phone' }).click();
    const dialog = laptop.getByRole('dialog', { name: 'Remove Phone?' });
    await dialog.waitFor();
    assert.equal(await laptop.evaluate('document.activeElement.id'), 'confirm-cancel', 'focus starts on Cancel');
    await screenshot(laptop, 'remove-device-en');
    await laptop.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.equal(await laptop.evaluate('document.activeElement.getAttribute("aria-label")'), 'Remove Phone', 'focus returns to the button');
    assert.equal((await api(base, 'GET', '/v1/accounts', { token: tokens.phone })).status, 200, 'Escape removes nothing');

    await laptop.keyboard.press('Enter');
    await dialog.getByRole('button', { name: 'Remove', exact: true }).click();
    await laptop.locator('#devices-message', { hasText: 'Phone was removed.' }).waitFor();
    assert.equal(await deviceItem(laptop, 'Phone').count(), 0);

    // The phone's stream is closed with 4401 by the gateway: the app goes back to the first screen.
    assert.equal(await signedOutNotice(phone), 'This device was signed out. Sign in again to keep getting your mail here.');
    assert.equal(await storedToken(phone), null, 'the phone forgot its token');
    assert.equal(await phone.locator('#tabs').isHidden(), true);
    await screenshot(phone, 'signed-out-en');
    await phone.getByRole('link', { name: 'I have a pairing code' }).click();
    await phone.locator('#view-pair').waitFor();
    assert.equal(await phone.evaluate('document.activeElement.id'), 'pair-code', 'the code field has the focus');
    await screenshot(phone, 'pair-en');
    assert.equal((await api(base, 'GET', '/v1/accounts', { token: tokens.phone })).status, 401);
    assert.equal((await api(base, 'GET', '/v1/accounts', { token: tokens.laptop })).status, 200, 'the laptop stays signed in');
  });

  test('a REST call answered 401 (the device was removed while its stream was not connected) also signs it out, with the message', async () => {
    const page = await devicePages.open(PHONE, 'en-US', base);
    // The stream is held by the test and never reaches the gateway: only REST can tell.
    await page.routeWebSocket(/\/v1\/stream$/, () => undefined);
    const pairing = await api(base, 'POST', '/v1/pairings', { token: tokens.laptop });
    await page.goto(pairing.body.url);
    await page.getByRole('button', { name: 'Sign in this device' }).click();
    await page.locator('#view-mail').waitFor();
    const device = (await api(base, 'GET', '/v1/devices', { token: (await storedToken(page))! })).body.devices.find((d: { current: boolean }) => d.current);
    assert.equal((await api(base, 'DELETE', `/v1/devices/${device.id}`, { token: tokens.laptop })).status, 204);
    await page.getByRole('link', { name: 'Devices' }).click();
    assert.match(await signedOutNotice(page), /^This device was signed out\./);
    assert.equal(await storedToken(page), null);
    await page.context().close();
  });

  test('in Japanese: the first screen, a pairing code typed by hand, the pairing link, the devices screen and adding a device', async () => {
    await japanese.goto(base);
    await japanese.locator('#view-register').waitFor();
    assert.equal(await japanese.evaluate('document.documentElement.lang'), 'ja');
    assert.equal(await japanese.locator('#view-register h2').innerText(), 'メールアカウントで始める');
    assert.equal(await japanese.getByRole('button', { name: '続ける' }).count(), 1);
    await screenshot(japanese, 'start-ja');

    await japanese.getByRole('link', { name: 'ペアリングコードをお持ちの場合' }).click();
    await japanese.locator('#view-pair').waitFor();
    assert.equal(await japanese.locator('#view-pair h2').innerText(), 'ペアリングコードでサインイン');
    await japanese.getByLabel('ペアリングコード', { exact: true }).fill('22222-22222');
    await japanese.getByRole('button', { name: 'この端末でサインイン' }).click();
    await japanese.locator('#pair-error').waitFor();
    assert.match(await japanese.locator('#pair-error').innerText(), /正しくないか、有効期限切れか、使用済みです/);
    await screenshot(japanese, 'pair-ja');

    // Typed as a person might: lower case, in groups.
    const typed = await api(base, 'POST', '/v1/pairings', { token: tokens.laptop });
    assert.equal(typed.status, 201);
    await japanese.getByLabel('ペアリングコード', { exact: true }).fill(`${typed.body.code.slice(0, 5)}-${typed.body.code.slice(5)}`.toLowerCase());
    await japanese.keyboard.press('Enter');
    await japanese.locator('#view-mail').waitFor();
    const typedToken = (await storedToken(japanese))!;
    assert.equal((await api(base, 'GET', '/v1/accounts', { token: typedToken })).status, 200);

    // The same device signs out, then opens a pairing link: the confirmation screen in Japanese.
    await japanese.getByRole('link', { name: '設定' }).click();
    await japanese.getByRole('button', { name: 'この端末からサインアウト' }).click();
    await japanese.locator('#view-register').waitFor();
    assert.equal((await api(base, 'GET', '/v1/accounts', { token: typedToken })).status, 401, 'signing out removes the device on the gateway');
    const linked = await api(base, 'POST', '/v1/pairings', { token: tokens.laptop });
    await japanese.goto(linked.body.url);
    await japanese.locator('#view-pair').waitFor();
    assert.match(await japanese.locator('#pair-lead').innerText(), /ご自身の別の端末でコードを発行した場合のみ/);
    await screenshot(japanese, 'pair-confirm-ja');
    await japanese.getByRole('button', { name: 'この端末でサインイン' }).click();
    await japanese.locator('#view-mail').waitFor();
    tokens.japanese = (await storedToken(japanese))!;

    await showDevices(japanese, 3, '端末');
    assert.equal(await japanese.locator('#devices .badge', { hasText: 'この端末' }).count(), 1);
    assert.match(await japanese.locator('#devices > li .device-facts').first().innerText(), /^最終利用: /);
    await screenshot(japanese, 'devices-ja');
    await japanese.getByRole('button', { name: '端末を追加' }).click();
    await japanese.locator('#pairing-qr svg').waitFor();
    assert.match(await japanese.locator('#pairing-expiry').innerText(), /^有効期限まで [45]:\d\d$/);
    await assertReadableAtPhoneWidth(japanese, 'adding a device, in Japanese');
    await screenshot(japanese, 'add-device-ja');

    await japanese.locator('#devices > li').first().getByRole('button', { name: /を削除$/ }).click();
    await japanese.getByRole('dialog').waitFor();
    assert.match(await japanese.locator('#confirm-title').innerText(), /を削除しますか？$/);
    await screenshot(japanese, 'remove-device-ja');
    await japanese.getByRole('dialog').getByRole('button', { name: 'キャンセル' }).click();
    await japanese.getByRole('dialog').waitFor({ state: 'hidden' });
    await japanese.getByRole('button', { name: '完了' }).click();
    assert.equal(await japanese.locator('#pairing-panel').isHidden(), true);
    assert.equal(await japanese.evaluate('document.activeElement.id'), 'devices-add', 'focus returns to 端末を追加');
  });

  test('Settings: choose the mailboxes that notify this device, and pause and resume a mailbox for every device', async () => {
    const second = await dovecot.addUser();
    const added = await api(base, 'POST', '/v1/accounts', { token: tokens.laptop, body: { imap: { user: second.email, pass: second.pass } } });
    assert.equal(added.status, 201);
    const secondId = added.body.account.id as string;
    const firstId = (await api(base, 'GET', '/v1/accounts', { token: tokens.laptop })).body.accounts.find((a: { id: string }) => a.id !== secondId).id as string;

    await laptop.getByRole('link', { name: 'Settings' }).click();
    await laptop.getByRole('button', { name: 'Turn on notifications' }).click();
    await laptop.locator('#push-state', { hasText: 'Notifications are on for this device.' }).waitFor();
    await laptop.getByRole('link', { name: /^Mail/ }).click();
    await laptop.getByRole('link', { name: 'Settings' }).click(); // drawn again, with the subscription
    const notifySecond = laptop.getByLabel(`Notify this device about ${second.email}`);
    await laptop.locator('#settings-accounts input').nth(1).waitFor({ timeout: 5000 }).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${await laptop.locator('#view-settings').innerHTML()}`);
    });
    await waitFor(async () => (await notifySecond.isEnabled()) && (await notifySecond.isChecked()), { timeoutMs: 5000, what: 'both mailboxes to notify this device' });
    await screenshot(laptop, 'device-settings-en');
    await notifySecond.uncheck();
    const subscription = async () => (await api(base, 'GET', '/v1/push/subscriptions', { token: tokens.laptop })).body.subscriptions[0] as { accounts: string[] } | undefined;
    await waitFor(async () => (await subscription())?.accounts.join() === firstId, { timeoutMs: 5000, what: 'the subscription to name the first mailbox only' });
    // The choice survives a change of preview (which posts the subscription again).
    await laptop.getByLabel('Notifications show').selectOption('full');
    await laptop.locator('#push-state', { hasText: 'Preview updated' }).waitFor();
    assert.deepEqual((await subscription())?.accounts, [firstId]);

    const accountState = async (id: string) => (await api(base, 'GET', '/v1/accounts', { token: tokens.laptop })).body.accounts.find((a: { id: string }) => a.id === id).state as string;
    await laptop.getByRole('button', { name: `Pause ${second.email}` }).click();
    await laptop.locator('#settings-accounts-message', { hasText: `${second.email} is paused` }).waitFor();
    assert.equal(await accountState(secondId), 'disabled');
    await laptop.getByRole('button', { name: `Resume ${second.email}` }).click();
    await laptop.locator('#settings-accounts-message', { hasText: `${second.email} is watched again.` }).waitFor();
    await waitFor(async () => (await accountState(secondId)) !== 'disabled', { timeoutMs: 5000, what: 'the mailbox to be watched again' });

    await japanese.getByRole('link', { name: '設定' }).click();
    await japanese.locator('#settings-accounts > li').nth(1).waitFor();
    await assertReadableAtPhoneWidth(japanese, 'settings, in Japanese');
    await screenshot(japanese, 'device-settings-ja');
    await japanese.getByRole('button', { name: 'データを削除' }).click();
    await japanese.getByRole('dialog', { name: 'すべてのデータを削除しますか？' }).waitFor();
    assert.deepEqual(await japanese.locator('#confirm-items li').allInnerTexts(), [
      'メールアカウント 2 件（監視を停止します）', '端末に届けるために保存している新着メールの記録', '端末 3 台（すべてサインアウトされます）', 'すべての通知の登録',
    ]);
    await screenshot(japanese, 'delete-data-ja');
    await japanese.getByRole('button', { name: 'キャンセル' }).click();
  });

  test('Settings: quiet hours with the senders who still ring are saved and come back after a reload; pause until tomorrow morning, then resume; in Japanese too', async () => {
    await laptop.getByRole('link', { name: 'Settings' }).click();
    await laptop.getByLabel('Quiet every day').check();
    await laptop.getByLabel('From', { exact: true }).fill('23:15');
    await laptop.getByLabel('Until', { exact: true }).fill('06:30');
    await laptop.getByLabel('Still ring for mail from').fill('Boss@Example.test\nfriend@example.test');
    await laptop.getByRole('button', { name: 'Save quiet hours' }).click();
    await laptop.locator('#quiet-message', { hasText: 'Quiet hours saved.' }).waitFor();
    const timeZone = (await laptop.evaluate('Intl.DateTimeFormat().resolvedOptions().timeZone')) as string;
    const stored = async () => (await api(base, 'GET', '/v1/devices/current/quiet-hours', { token: tokens.laptop })).body.quietHours;
    assert.deepEqual(await stored(), { enabled: true, start: '23:15', end: '06:30', timeZone, vips: ['boss@example.test', 'friend@example.test'], pausedUntil: null });

    await laptop.reload();
    await waitFor(async () => (await laptop.inputValue('#quiet-start')) === '23:15', { timeoutMs: 5000, what: 'the saved window after a reload' });
    assert.equal(await laptop.getByLabel('Quiet every day').isChecked(), true);
    assert.equal(await laptop.inputValue('#quiet-end'), '06:30');
    assert.equal(await laptop.inputValue('#quiet-vips'), 'boss@example.test\nfriend@example.test');

    await laptop.getByRole('button', { name: 'Until tomorrow morning' }).click();
    await laptop.locator('#quiet-pause-state', { hasText: 'Notifications are quiet until' }).waitFor();
    const pausedUntil = (await stored()).pausedUntil as string;
    assert.ok(Date.parse(pausedUntil) > Date.now());
    const localTime = new Intl.DateTimeFormat('en-US', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(Date.parse(pausedUntil));
    assert.equal(localTime, '07:00', 'the next 07:00 on the device\'s clock');
    await laptop.getByRole('button', { name: 'Resume now' }).click();
    await laptop.locator('#quiet-pause-state', { hasText: 'Not paused.' }).waitFor();
    assert.equal((await stored()).pausedUntil, null);
    assert.equal((await stored()).enabled, true, 'resuming keeps the daily window');
    await screenshot(laptop, 'quiet-hours-en');

    // In Japanese: the section, its refusal of an empty window, saving, pausing.
    await japanese.getByRole('link', { name: '設定' }).click();
    assert.equal(await japanese.getByRole('heading', { name: 'おやすみ時間' }).count(), 1);
    await japanese.getByLabel('毎日おやすみ時間にする').check();
    await japanese.getByLabel('開始', { exact: true }).fill('22:00');
    await japanese.getByLabel('終了', { exact: true }).fill('22:00');
    await japanese.getByRole('button', { name: 'おやすみ時間を保存' }).click();
    await japanese.locator('#quiet-message', { hasText: 'このおやすみ時間は保存できません。開始と終了に別の時刻を選んでください。' }).waitFor();
    await japanese.getByLabel('終了', { exact: true }).fill('07:00');
    await japanese.getByRole('button', { name: 'おやすみ時間を保存' }).click();
    await japanese.locator('#quiet-message', { hasText: 'おやすみ時間を保存しました。' }).waitFor();
    assert.deepEqual((({ enabled, start, end }) => [enabled, start, end])((await api(base, 'GET', '/v1/devices/current/quiet-hours', { token: tokens.japanese })).body.quietHours), [true, '22:00', '07:00']);
    await japanese.getByRole('button', { name: '明日の朝まで' }).click();
    await japanese.locator('#quiet-pause-state', { hasText: 'まで通知は鳴りません。' }).waitFor();
    await screenshot(japanese, 'quiet-hours-ja');
    await japanese.getByRole('button', { name: '今すぐ再開' }).click();
    await japanese.locator('#quiet-pause-state', { hasText: '一時停止していません。' }).waitFor();
  });

  test('"Delete my data" names what goes, then erases the user: every device is back on the first screen and every token is 401', async () => {
    await laptop.getByRole('button', { name: 'Delete my data' }).click();
    const dialog = laptop.getByRole('dialog', { name: 'Delete all your data?' });
    await dialog.waitFor();
    assert.deepEqual(await laptop.locator('#confirm-items li').allInnerTexts(), [
      'your 2 mailboxes, which are no longer watched',
      'the new-mail events kept for your devices',
      'your 3 devices, which are all signed out',
      'every notification subscription',
    ]);
    await screenshot(laptop, 'delete-data-en');
    await dialog.getByRole('button', { name: 'Delete everything' }).click();
    await laptop.locator('#view-register').waitFor();
    assert.equal(await laptop.locator('#start-notice').innerText(), 'Your data was deleted from the gateway.');
    assert.equal(await storedToken(laptop), null);

    for (const name of ['laptop', 'third', 'japanese'] as const) {
      assert.equal((await api(base, 'GET', '/v1/devices', { token: tokens[name] })).status, 401, `the ${name}'s token`);
    }
    // The other devices' streams are closed by the gateway: they return to the first screen too.
    assert.match(await signedOutNotice(third), /This device was signed out/);
    assert.match(await signedOutNotice(japanese), /この端末はサインアウトされました/);
    await screenshot(japanese, 'signed-out-ja');
    assert.deepEqual(devicePages.problems, []);
  });

  test('a pairing code that expires says so, hides its QR code, and offers a new one', async () => {
    const page = await devicePages.open(PHONE, 'en-US', shortCodesBase);
    await page.goto(shortCodesBase);
    await page.locator('#view-register').waitFor();
    await submitSignIn(page, mailbox);
    await page.getByRole('link', { name: 'Devices' }).click();
    await page.getByRole('button', { name: 'Add a device' }).click();
    await page.locator('#pairing-qr svg').waitFor();
    assert.match(await page.locator('#pairing-expiry').innerText(), /^Expires in 0:0[0-3]$/);
    const first = await shownCode(page);
    await page.locator('#pairing-expiry', { hasText: 'This code has expired.' }).waitFor({ timeout: 10_000 });
    assert.equal(await page.locator('#pairing-qr').isHidden(), true, 'no QR code of a dead link');
    assert.equal(await page.locator('#pairing-code').isHidden(), true);
    await page.getByRole('button', { name: 'New code' }).click();
    await waitFor(async () => (await page.locator('#pairing-code').isVisible()) && (await shownCode(page)) !== first, { timeoutMs: 5000, what: 'a new code' });
    assert.equal(await page.locator('#pairing-qr svg').count(), 1);
    assert.deepEqual(devicePages.problems, []);
  });
});
