// Install guidance in a real browser: headless Chromium against a real `mailpush` web process, the
// test Dovecot (for the one registration) and the loopback push service. One gateway, a browser
// context per device: an iPhone in Safari (iPhone user agent, viewport and touch, no PushManager,
// not on the Home Screen) is shown how to add the app to the Home Screen, in English and in
// Japanese, instead of a notifications switch it could not use; the same iPhone running from the
// Home Screen gets the switch, and permission is asked only from its tap; desktop Chromium offers
// its install prompt behind an "Install app" button; a browser without Web Push says what still
// works. Phone screenshots of the guidance go to test-artifacts/screenshots (UPDATE_SCREENSHOTS=1
// also copies them to docs/screenshots for the README).

import { afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { devices, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { LOW_CONTRAST, replacePushSubscription } from '../helpers/browser.js';
import { useFixtures } from '../helpers/fixtures.js';
import { PHONE, saveScreenshot, watchPageProblems } from '../helpers/page-checks.js';
import { gatewayEnv } from '../helpers/gateway-env.js';
import { api } from '../helpers/gateway.js';
import type { PushService } from '../helpers/push-service.js';
import { waitFor } from '../helpers/wait.js';


// The iPhone of playwright's device list, drawn at 1× so screenshots match the README's others.
const { defaultBrowserType: _engine, ...iPhone15 } = devices['iPhone 15']!;
const IPHONE: BrowserContextOptions = { ...iPhone15, deviceScaleFactor: 1 };
const OLD_IPHONE_UA = 'Mozilla/5.0 (iPhone; CPU iPhone OS 15_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.6 Mobile/15E148 Safari/604.1';
const IPAD_AS_MAC_UA = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15';

/** An iPad's touch screen takes five fingers; Chromium's touch emulation reports one. */
const IPAD_TOUCH = `Object.defineProperty(Navigator.prototype, 'maxTouchPoints', { get: () => 5, configurable: true });`;
/** Safari in a tab before iOS lets a page subscribe: no PushManager (nor Notification). */
const WITHOUT_WEB_PUSH = `delete window.PushManager; delete window.Notification;`;
/** Opened from the Home Screen: iOS's navigator.standalone and the display-mode media query. */
const STANDALONE = `(() => {
  Object.defineProperty(Navigator.prototype, 'standalone', { get: () => true, configurable: true });
  const realMatchMedia = window.matchMedia.bind(window);
  window.matchMedia = (query) => {
    const list = realMatchMedia(query);
    if (!/display-mode:\\s*standalone/.test(query)) return list;
    return { matches: true, media: query, onchange: null,
      addEventListener: list.addEventListener.bind(list), removeEventListener: list.removeEventListener.bind(list),
      addListener: list.addListener.bind(list), removeListener: list.removeListener.bind(list), dispatchEvent: list.dispatchEvent.bind(list) };
  };
})();`;
/** Records every permission request and whether a tap (transient user activation) was behind it. */
const RECORD_PERMISSION_ASKS = `(() => {
  if (typeof Notification === 'undefined') return;
  window.permissionAsks = [];
  const ask = Notification.requestPermission.bind(Notification);
  Notification.requestPermission = (...args) => { window.permissionAsks.push(navigator.userActivation.isActive); return ask(...args); };
})();`;
/** What Chromium fires when the app is installable; prompt() is counted instead of shown. */
const DISPATCH_INSTALL_PROMPT = `(() => {
  window.installPrompts = window.installPrompts ?? 0;
  const event = new Event('beforeinstallprompt', { cancelable: true });
  event.prompt = () => { window.installPrompts++; return Promise.resolve(); };
  event.userChoice = Promise.resolve({ outcome: 'accepted', platform: 'web' });
  window.dispatchEvent(event);
  return event.defaultPrevented;
})()`;

let base: string;
let browser: Browser;
let push: PushService;
/** A registered device's token: contexts that need Settings start signed in with it. */
let token: string;
const contexts: BrowserContext[] = [];

const fixtures = useFixtures();

before(async () => {
  let dovecot, redis;
  [dovecot, redis, push] = await Promise.all([fixtures.dovecot(), fixtures.redis(), fixtures.pushService()]);
  const env = gatewayEnv({ redisUrl: redis.url, imapPort: dovecot.imapPort, push });
  let web;
  [web, browser] = await Promise.all([fixtures.mailpush('web', env), fixtures.chromium()]);
  base = web.url!;
  const mailbox = await dovecot.addUser();
  const created = await api(base, 'POST', '/v1/accounts', { body: { imap: { user: mailbox.user, pass: mailbox.pass } } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  token = created.body.token as string;
});

// Each test's devices are closed after it: a shared machine need not hold a dozen pages at once.
afterEach(async () => {
  await Promise.all(contexts.splice(0).map((context) => context.close().catch(() => undefined)));
});

interface Device {
  page: Page;
  context: BrowserContext;
  /** Uncaught errors and console errors (a CSP violation is one). */
  problems: string[];
}

async function openDevice(options: BrowserContextOptions, scripts: string[], signedIn: boolean): Promise<Device> {
  const context = await browser.newContext(options);
  contexts.push(context);
  for (const script of scripts) await context.addInitScript({ content: script });
  if (signedIn) await context.addInitScript({ content: `localStorage.setItem('mailpush.token', ${JSON.stringify(token)});` });
  const page = await context.newPage();
  const problems: string[] = [];
  watchPageProblems(page, problems);
  return { page, context, problems };
}

async function openSettings(page: Page): Promise<void> {
  await page.goto(`${base}/#/settings`);
  await page.locator('#view-settings').waitFor();
}

async function screenshot(page: Page, name: string): Promise<void> {
  await page.setViewportSize(PHONE);
  await saveScreenshot(page, `${name}-phone`);
}

/** At 360 px nothing scrolls sideways and all visible text meets WCAG AA contrast. */
async function assertFitsSmallPhone(page: Page, what: string): Promise<void> {
  await page.setViewportSize({ width: 360, height: 740 });
  assert.ok(await page.evaluate('document.documentElement.scrollWidth <= 360'), `${what} fits 360 px`);
  assert.deepEqual(await page.evaluate(LOW_CONTRAST), [], `text contrast on ${what}`);
}

const guideSteps = (page: Page) => page.locator('#install-guide .install-steps li').allInnerTexts();

describe('install guidance', () => {
  test('an iPhone in Safari is shown how to add the app to the Home Screen, on the register screen and in Settings, with no notifications switch', async () => {
    const { page, problems } = await openDevice({ ...IPHONE, locale: 'en-US' }, [WITHOUT_WEB_PUSH], false);
    await page.goto(base);
    await page.locator('#view-register').waitFor();
    const guide = page.getByRole('region', { name: 'Add mailpush to your Home Screen' });
    await guide.waitFor();
    assert.equal(await page.locator('#install-slot-register #install-guide').count(), 1, 'before the mailbox is added: the Home Screen app signs in on its own');
    assert.match(await guide.innerText(), /signs in separately from this browser/);

    // Signed in, the feed (where the person stays) points to the guide in Settings.
    await page.evaluate(`localStorage.setItem('mailpush.token', ${JSON.stringify(token)}); location.hash = '#/mail'`);
    await page.reload();
    await page.locator('#view-mail').waitFor();
    const hint = page.locator('#install-hint');
    await hint.waitFor();
    assert.match(await hint.innerText(), /^To get notifications on this device, add mailpush to your Home Screen\./);
    await assertFitsSmallPhone(page, 'the feed with the hint');
    await hint.getByRole('link', { name: 'Show me how' }).tap();
    await page.locator('#view-settings').waitFor();
    await guide.waitFor();
    assert.equal(await page.locator('#install-slot-settings #install-guide').count(), 1);
    assert.deepEqual(await guideSteps(page), [
      'Tap the Share button in the browser’s toolbar: at the bottom on iPhone, at the top on iPad. Not there? Tap “⋯” first.',
      'Scroll down, choose “Add to Home Screen”, then tap “Add”.',
      'Open mailpush from your Home Screen and turn on notifications under Settings.',
    ]);
    // The share symbol is drawn inline: nothing is fetched for it.
    assert.equal(await page.locator('#install-guide li').first().locator('svg path').count(), 1);
    assert.equal(await page.getByRole('button', { name: 'Turn on notifications' }).count(), 0, 'no dead switch');
    assert.equal(await page.getByLabel('Notifications show').isVisible(), false, 'no preview choice either');
    assert.equal(await page.locator('#push-card').isVisible(), false);
    assert.equal(await page.locator('#install-ios-old').isVisible(), false, 'iOS 17 is new enough');
    assert.equal(await page.getByRole('button', { name: 'Install app' }).isVisible(), false, 'Safari has no install prompt');
    await screenshot(page, 'install-guide-en');
    await assertFitsSmallPhone(page, 'the English guide');
    assert.deepEqual(problems, []);
  });

  test('in Japanese on a ja-JP iPhone: ホーム画面に追加, and still no switch', async () => {
    const { page, problems } = await openDevice({ ...IPHONE, locale: 'ja-JP' }, [WITHOUT_WEB_PUSH], true);
    await openSettings(page);
    const guide = page.getByRole('region', { name: 'mailpush をホーム画面に追加' });
    await guide.waitFor();
    assert.equal(await page.evaluate('document.documentElement.lang'), 'ja');
    const steps = await guideSteps(page);
    assert.equal(steps.length, 3);
    assert.match(steps[0]!, /共有ボタンをタップ/);
    assert.match(steps[1]!, /「ホーム画面に追加」を選び/);
    assert.match(steps[2]!, /ホーム画面から mailpush を開き/);
    assert.equal(await page.getByRole('button', { name: '通知をオンにする' }).count(), 0);
    await screenshot(page, 'install-guide-ja');
    await assertFitsSmallPhone(page, 'the Japanese guide');

    // Switching the language in Settings redraws the guide at once.
    await page.setViewportSize(PHONE);
    await page.getByLabel('アプリと通知の言語').selectOption('en');
    await page.getByRole('region', { name: 'Add mailpush to your Home Screen' }).waitFor();
    assert.deepEqual(problems, []);
  });

  test('an iPhone older than iOS 16.4 is told so, with its version, in Safari and from the Home Screen; an iPad that reports itself as a Mac gets the guide too', async () => {
    const old = await openDevice({ ...IPHONE, userAgent: OLD_IPHONE_UA, locale: 'en-US' }, [WITHOUT_WEB_PUSH], true);
    await openSettings(old.page);
    const note = old.page.locator('#install-ios-old');
    await note.waitFor();
    assert.equal(await note.innerText(), 'Notifications on iPhone and iPad need iOS 16.4 or later. Update under Settings › General › Software Update. This device has iOS 15.7.');

    // Added to the Home Screen on that old iOS: still no push, and no steps that would not help.
    const oldInstalled = await openDevice({ ...IPHONE, userAgent: OLD_IPHONE_UA, locale: 'en-US' }, [WITHOUT_WEB_PUSH, STANDALONE], true);
    await openSettings(oldInstalled.page);
    await oldInstalled.page.locator('#push-state', { hasText: /need iOS 16\.4 or later.*This device has iOS 15\.7\.$/ }).waitFor();
    assert.equal(await oldInstalled.page.locator('#install-guide').isVisible(), false);
    assert.equal(await oldInstalled.page.getByRole('button', { name: 'Turn on notifications' }).isVisible(), false);

    const ipad = await openDevice({ viewport: { width: 820, height: 1180 }, userAgent: IPAD_AS_MAC_UA, hasTouch: true, isMobile: false, locale: 'ja-JP' }, [WITHOUT_WEB_PUSH, IPAD_TOUCH], true);
    await openSettings(ipad.page);
    await ipad.page.getByRole('region', { name: 'mailpush をホーム画面に追加' }).waitFor();
    assert.equal(await ipad.page.locator('#install-ios-old').isVisible(), false, 'iPadOS 17.4 is new enough');
    assert.deepEqual([...old.problems, ...oldInstalled.problems, ...ipad.problems], []);
  });

  test('the same iPhone opened from the Home Screen shows the switch; permission is asked only from its tap', async () => {
    const { page, context, problems } = await openDevice({ ...IPHONE, locale: 'en-US' }, [STANDALONE, RECORD_PERMISSION_ASKS], true);
    await context.grantPermissions(['notifications'], { origin: base });
    await replacePushSubscription(context, push.subscribe('iphone'));
    await openSettings(page);
    const turnOn = page.getByRole('button', { name: 'Turn on notifications' });
    await turnOn.waitFor();
    assert.equal(await page.locator('#install-guide').isVisible(), false, 'installed: no guide');
    assert.equal(await page.locator('#install-hint', { hasText: 'Home Screen' }).count(), 1, 'the feed hint exists in the page…');
    assert.equal(await page.locator('#install-hint').isHidden(), true, '…but is not shown when installed');
    assert.equal(await page.getByLabel('Notifications show').isVisible(), true);
    assert.deepEqual(await page.evaluate('window.permissionAsks'), [], 'opening Settings asks nothing');

    // Already installed: the browser's install prompt is not offered.
    assert.equal(await page.evaluate(DISPATCH_INSTALL_PROMPT), true);
    assert.equal(await page.getByRole('button', { name: 'Install app' }).isVisible(), false);

    await turnOn.tap();
    await page.locator('#push-state', { hasText: 'Notifications are on for this device.' }).waitFor();
    assert.deepEqual(await page.evaluate('window.permissionAsks'), [true], 'one ask, with a tap behind it');
    await waitFor(async () => (await api(base, 'GET', '/v1/push/subscriptions', { token })).body.subscriptions.length === 1, {
      timeoutMs: 5000, what: 'the iPhone’s subscription on the gateway',
    });
    assert.deepEqual(problems, []);
  });

  test('desktop Chromium keeps its install prompt for an "Install app" button: the button shows it, and hides once installed', async () => {
    const { page, problems } = await openDevice({ viewport: { width: 1280, height: 800 }, locale: 'en-US' }, [], true);
    await openSettings(page);
    const install = page.getByRole('button', { name: 'Install app' });
    await page.getByRole('button', { name: 'Turn on notifications' }).waitFor();
    assert.equal(await install.isVisible(), false, 'nothing to offer before the browser says the app is installable');

    assert.equal(await page.evaluate(DISPATCH_INSTALL_PROMPT), true, 'the browser’s own banner is held back');
    await install.waitFor();
    assert.equal(await page.locator('#install-guide').isVisible(), false, 'no Home Screen steps outside iOS');
    await install.focus();
    await page.keyboard.press('Enter'); // works from the keyboard
    await waitFor(async () => (await page.evaluate('window.installPrompts')) === 1, { timeoutMs: 5000, what: 'prompt() to be called' });
    await install.waitFor({ state: 'hidden' });

    // The browser may offer again later; installing from its own menu hides the button too.
    await page.evaluate(DISPATCH_INSTALL_PROMPT);
    await install.waitFor();
    await page.evaluate(`window.dispatchEvent(new Event('appinstalled'))`);
    await install.waitFor({ state: 'hidden' });
    assert.equal(await page.evaluate('window.installPrompts'), 1);
    assert.deepEqual(problems, []);
  });

  test('a browser without Web Push that is not on iOS says notifications cannot show while closed, live updates still work', async () => {
    const { page, problems } = await openDevice({ viewport: PHONE, locale: 'en-US' }, [WITHOUT_WEB_PUSH], true);
    await openSettings(page);
    await page.locator('#push-state', { hasText: 'This browser cannot show notifications while mailpush is closed. While it is open, new mail still appears here live.' }).waitFor();
    assert.equal(await page.locator('#install-guide').isVisible(), false, 'not iOS: the Home Screen would not help');
    assert.equal(await page.getByRole('button', { name: 'Turn on notifications' }).isVisible(), false);
    assert.equal(await page.getByLabel('Notifications show').isVisible(), false);
    await assertFitsSmallPhone(page, 'the unsupported notice');
    assert.deepEqual(problems, []);
  });

  test('the page has what iOS needs to install it: a full-bleed 180 px apple-touch-icon and the Home Screen metas', async () => {
    const { page } = await openDevice({ ...IPHONE }, [], false);
    await page.goto(base);
    const href = await page.locator('link[rel="apple-touch-icon"]').getAttribute('href');
    assert.ok(href);
    const icon = await page.evaluate(`(async () => {
      const bitmap = await createImageBitmap(await (await fetch(${JSON.stringify(href)})).blob());
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const context = canvas.getContext('2d');
      context.drawImage(bitmap, 0, 0);
      const corner = context.getImageData(0, 0, 1, 1).data;
      return { width: bitmap.width, height: bitmap.height, cornerAlpha: corner[3] };
    })()`) as { width: number; height: number; cornerAlpha: number };
    // iOS fills transparent corners with black: the icon must be opaque to the edge.
    assert.deepEqual(icon, { width: 180, height: 180, cornerAlpha: 255 });
    assert.equal(await page.locator('meta[name="apple-mobile-web-app-capable"]').getAttribute('content'), 'yes');
    assert.match((await page.locator('meta[name="theme-color"]').getAttribute('content'))!, /^#[0-9a-f]{6}$/i);
    const manifest = await page.evaluate(`fetch('/manifest.webmanifest').then((r) => r.json())`) as { display: string; icons: Array<{ sizes: string }> };
    assert.equal(manifest.display, 'standalone', 'iOS grants Web Push only to a standalone Home Screen app');
    assert.ok(manifest.icons.some((i) => i.sizes === '192x192') && manifest.icons.some((i) => i.sizes === '512x512'));
  });
});
