// The web app as one person's devices, for the browser tests of devices and pairing: each device
// is a Chromium context of its own (its own storage and token, notifications allowed, a push
// subscription at the loopback push service), and the steps and checks those tests repeat on it.

import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { LOW_CONTRAST, replacePushSubscription } from './browser.js';
import type { DovecotUser } from './dovecot.js';
import { saveScreenshot, watchPageProblems } from './page-checks.js';
import type { PushService } from './push-service.js';
import { waitFor } from './wait.js';

/** The narrowest phone layout the app supports. */
export const NARROW_PHONE = { width: 360, height: 780 };

/** The sign-in form's labels in English. */
export const ENGLISH_SIGN_IN = { email: 'Email address', password: 'Password', submit: 'Continue' };

export class DevicePages {
  /** What any device's page did that the app must never do (see watchPageProblems). */
  readonly problems: string[] = [];

  constructor(private readonly browser: Browser, private readonly push: PushService) {}

  /** A new device at `origin`, its page not loaded yet. */
  async open(viewport: { width: number; height: number }, locale: string, origin: string): Promise<Page> {
    const context = await this.browser.newContext({ viewport, locale });
    await context.grantPermissions(['notifications'], { origin });
    await replacePushSubscription(context, this.push.subscribe(`browser-${locale}-${viewport.width}-${Math.random()}`));
    const page = await context.newPage();
    // Nothing may be fetched from anywhere but the gateway: the QR encoder is served from it too.
    // Refused requests are expected here (401s after a device is removed, a wrong pairing code).
    watchPageProblems(page, this.problems, origin);
    return page;
  }
}

/** The device's token as the app keeps it; null once signed out. */
export const storedToken = (page: Page) => page.evaluate(`localStorage.getItem('mailpush.token')`) as Promise<string | null>;

/** A message in the feed, by its subject. */
export const feedItem = (page: Page, subject: string) => page.locator('#feed > li', { hasText: subject });
/** A device on the Devices screen, by its name. */
export const deviceItem = (page: Page, name: string) => page.locator('#devices > li', { has: page.locator('.device-name', { hasText: name }) });
/** The pairing code as the device that asked for it shows it, "K7M3Q X9PRT". */
export const shownCode = (page: Page) => page.locator('#pairing-code').innerText();

/** On the first screen: the mailbox's address and password, Continue, and the mail screen. */
export async function submitSignIn(page: Page, mailbox: DovecotUser, labels = ENGLISH_SIGN_IN): Promise<void> {
  await page.getByLabel(labels.email).fill(mailbox.email);
  await page.getByLabel(labels.password, { exact: true }).fill(mailbox.pass);
  await page.getByRole('button', { name: labels.submit }).click();
  await page.locator('#view-mail').waitFor();
}

/** Opens the first screen, waits for the server fields to be pre-filled, signs in; returns the device's token. */
export async function signIn(page: Page, base: string, mailbox: DovecotUser, labels = ENGLISH_SIGN_IN): Promise<string> {
  await page.goto(base);
  await page.locator('#view-register').waitFor();
  await waitFor(async () => (await page.inputValue('#register-host')) !== '', { timeoutMs: 5000, what: 'the server fields to be pre-filled' });
  await submitSignIn(page, mailbox, labels);
  const token = await storedToken(page);
  assert.ok(token, 'the device keeps its token');
  return token;
}

/** Opens the Devices screen (its tab is `link` in the page's language) and waits for `listed` devices on it. */
export async function showDevices(page: Page, listed: number, link = 'Devices'): Promise<void> {
  await page.getByRole('link', { name: link }).click();
  await page.locator('#devices > li').nth(listed - 1).waitFor();
}

/** The notice on the first screen once the device is back there (within 5 s): why it was signed out. */
export async function signedOutNotice(page: Page): Promise<string> {
  await page.locator('#view-register').waitFor({ timeout: 5000 });
  return page.locator('#start-notice').innerText();
}

/** Runs `step` with the page at phone size, then gives the page its own size back. */
async function atPhoneSize(page: Page, step: () => Promise<void>): Promise<void> {
  const viewport = page.viewportSize();
  await page.setViewportSize(NARROW_PHONE);
  await step();
  if (viewport) await page.setViewportSize(viewport);
}

/** A phone-size screenshot of what `page` shows: the whole page, or only the screen under an open dialog. */
export async function phoneScreenshot(page: Page, name: string): Promise<void> {
  const dialogOpen = (await page.evaluate(`document.querySelector('dialog[open]') !== null`)) as boolean;
  await atPhoneSize(page, () => saveScreenshot(page, name, { fullPage: !dialogOpen }));
}

/** What a person would notice on a phone: text too faint to read, or a screen wider than the phone. */
export async function assertReadableAtPhoneWidth(page: Page, what: string): Promise<void> {
  await atPhoneSize(page, async () => {
    assert.deepEqual(await page.evaluate(LOW_CONTRAST), [], `${what}: text under 4.5:1 contrast`);
    const width = (await page.evaluate('document.documentElement.scrollWidth')) as number;
    assert.ok(width <= NARROW_PHONE.width, `${what}: ${width} px wide on a ${NARROW_PHONE.width} px screen`);
  });
}
