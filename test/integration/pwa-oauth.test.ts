// "Sign in with <provider>" in the web app, the whole way in headless Chromium: the app's button →
// the provider's own login and consent pages (a real OpenID provider on loopback, oidc-provider) →
// the gateway's callback → the app trades the handoff for its token → the mailbox (a real Dovecot
// whose oauth2 passdb asks the provider about each token) is watched, and mail delivered through
// LMTP shows up live and as a push at the loopback push service. Also: consent denied at the
// provider, in Japanese; a handoff code used twice; what an OAuth mailbox offers on the accounts
// screen. One gateway process (`mailpush all`, Redis), one Dovecot, one browser for the file.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { LOW_CONTRAST, replacePushSubscription, turnOnNotifications } from '../helpers/browser.js';
import { startDnsServer } from '../helpers/dns-server.js';
import type { Dovecot, DovecotUser } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import { gatewayEnv } from '../helpers/gateway-env.js';
import { api } from '../helpers/gateway.js';
import { buildMessage } from '../helpers/message.js';
import { signInOverHttp } from '../helpers/oauth-gateway.js';
import { startOidcProvider, type OidcProvider } from '../helpers/oidc-provider.js';
import { PHONE, watchPageProblems } from '../helpers/page-checks.js';
import { freePort } from '../helpers/ports.js';
import type { PushService } from '../helpers/push-service.js';
import { waitFor } from '../helpers/wait.js';

const PROVIDER_NAME = 'Test IdP';

const fixtures = useFixtures();
let provider: OidcProvider;
let dovecot: Dovecot;
let push: PushService;
let browser: Browser;
let base: string;
const pageProblems: string[] = [];

before(async () => {
  // The provider must know the gateway's redirect URI before the gateway knows the provider.
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  provider = await fixtures.start('OpenID provider', startOidcProvider({ redirectUri: `${base}/v1/oauth/callback` }), (p) => p.stop());
  let redis, dns;
  [dovecot, redis, push, browser, dns] = await Promise.all([
    fixtures.dovecot({ oauth2: { introspectionUrl: provider.introspectionUrlWithCredentials } }),
    fixtures.redis(),
    fixtures.pushService(),
    fixtures.chromium(),
    // Discovery asks DNS about the typed address's domain: a loopback server that knows nothing,
    // so the answer is the gateway's default server, whose provider is the test one.
    fixtures.start('dnsmasq', startDnsServer({}), (d) => d.cleanup(), { logTail: (d) => d.logTail() }),
  ]);
  const providers = [{
    id: 'testidp', name: PROVIDER_NAME, issuer: provider.issuer, clientId: provider.clientId, clientSecret: provider.clientSecret,
    scopes: ['openid', 'email', 'offline_access'], imap: { host: '127.0.0.1', port: dovecot.imapPort, security: 'none' },
  }];
  const env = gatewayEnv({
    redisUrl: redis.url, imapPort: dovecot.imapPort, push,
    env: { PUBLIC_URL: base, OAUTH_PROVIDERS: JSON.stringify(providers), DNS_SERVERS: dns.address },
  });
  await fixtures.mailpush('all', env, { port });
});

/** A person at the provider whose login there is their Dovecot user name. */
async function providerUser(): Promise<DovecotUser> {
  const user = await dovecot.addUser();
  provider.addUser(user.user, user.email);
  return user;
}

/** A phone-size page in a context of its own (nothing shared with the other pages, the provider's cookies included). */
async function appPage(options: { locale?: string; subscription?: string; token?: string } = {}): Promise<Page> {
  const context = await browser.newContext({ viewport: PHONE, ...(options.locale ? { locale: options.locale } : {}) });
  if (options.token) await context.addInitScript({ content: `if (!localStorage.getItem('mailpush.token')) localStorage.setItem('mailpush.token', ${JSON.stringify(options.token)});` });
  await context.grantPermissions(['notifications'], { origin: base });
  if (options.subscription) await replacePushSubscription(context, push.subscribe(options.subscription));
  // The provider's pages import a web font from the internet: the browser stays on loopback.
  await context.route((url) => url.hostname !== '127.0.0.1', (route) => route.abort());
  const page = await context.newPage();
  watchPageProblems(page, pageProblems, base, { alsoVisits: [provider.issuer] });
  return page;
}

/**
 * On the first screen: types the address and presses the provider's button, which leads once
 * discovery matched the address (the password field folds away then).
 */
async function startSignIn(page: Page, user: DovecotUser, buttonName: string): Promise<void> {
  const button = page.getByRole('button', { name: buttonName });
  await button.waitFor();
  await page.locator('#register-email').fill(user.email);
  await page.locator('#register-email').blur();
  await waitFor(async () => (await button.getAttribute('class'))?.includes('primary') ?? false, { timeoutMs: 5000, what: 'the provider\'s button to lead' });
  assert.equal(await page.locator('#register-password').isVisible(), false, 'the password field is folded away for a provider\'s address');
  await button.click();
}

/** The provider's development login page, as a person fills it in. */
async function logInAtProvider(page: Page, user: DovecotUser): Promise<void> {
  await page.waitForURL((url) => url.href.startsWith(provider.issuer));
  await page.locator('input[name="login"]').fill(user.user);
  await page.locator('input[name="password"]').fill('any');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.getByRole('button', { name: 'Continue' }).waitFor(); // the consent page
}

const stored = (page: Page, key: string) => page.evaluate(`localStorage.getItem(${JSON.stringify(key)})`) as Promise<string | null>;

describe('signing in with a provider in the web app', () => {
  let page: Page;
  let person: DovecotUser;
  let token: string;
  let usedHandoff: string | undefined;

  test('"Sign in with Test IdP" → the provider\'s login and consent → the feed, with the mailbox watched and no code left in the address', async () => {
    person = await providerUser();
    page = await appPage({ subscription: 'oauth-phone' });
    page.on('request', (request) => {
      if (request.url() === `${base}/v1/oauth/handoff`) usedHandoff = (JSON.parse(request.postData() ?? '{}') as { handoff?: string }).handoff;
    });
    await page.goto(base);
    await page.getByRole('button', { name: `Sign in with ${PROVIDER_NAME}` }).waitFor();
    assert.equal(await page.locator('#register-password').isVisible(), true, 'before an address is typed, the password form is there too');

    await startSignIn(page, person, `Sign in with ${PROVIDER_NAME}`);
    await logInAtProvider(page, person);
    await page.getByRole('button', { name: 'Continue' }).click();

    await page.locator('#view-mail').waitFor();
    token = (await stored(page, 'mailpush.token'))!;
    assert.ok(token, 'the device keeps the token the handoff gave');
    assert.ok(usedHandoff, 'the app traded a handoff code');
    assert.equal(new URL(page.url()).hash, '#/mail', 'the handoff code is gone from the address (its history entry was replaced)');

    const accounts = (await api(base, 'GET', '/v1/accounts', { token })).body.accounts as Array<{ email: string; auth?: string; provider?: string }>;
    assert.deepEqual(accounts.map((a) => [a.email, a.auth, a.provider]), [[person.email, 'oauth2', 'testidp']]);

    await page.getByRole('link', { name: 'Accounts' }).click();
    const item = page.locator('#accounts > li', { hasText: person.email });
    await item.locator('.state', { hasText: 'Connected' }).waitFor({ timeout: 10_000 });
    assert.match(await item.innerText(), new RegExp(`Signed in with ${PROVIDER_NAME}`));
    assert.equal(await item.locator('input[type=password]').count(), 0, 'no password field for an OAuth mailbox');
    assert.equal(await item.getByRole('button', { name: 'Change password' }).count(), 0);
    assert.equal(await page.getByRole('button', { name: `Add a ${PROVIDER_NAME} mailbox` }).count(), 1, 'signed in, the provider adds another mailbox');
  });

  test('mail delivered to the OAuth mailbox shows up live in the feed and as a push', async () => {
    await turnOnNotifications(page, { base, token }, 'full');
    await page.getByRole('link', { name: /^Mail/ }).click();
    await waitFor(async () => (await page.locator('#connection').innerText()) === 'Live', { timeoutMs: 5000, what: 'the stream to be live' });

    await dovecot.deliver(person.email, buildMessage({ from: { name: 'Ada Lovelace', address: 'ada@example.test' }, to: person.email, subject: 'Tokens, not passwords' }));
    await page.locator('#feed > li', { hasText: 'Tokens, not passwords' }).waitFor({ timeout: 5000 });
    const pushed = await waitFor(() => push.received.find((r) => r.name === 'oauth-phone' && r.payload.type === 'mail.new'), { timeoutMs: 10_000, what: 'the push' });
    assert.equal(pushed.payload.title, 'Ada Lovelace');
    assert.match(String(pushed.payload.body), /Tokens, not passwords/);
    const log = await dovecot.readLog();
    assert.match(log, new RegExp(`imap-login: Info: Login: user=<${person.user}>, method=(OAUTHBEARER|XOAUTH2)`), 'the mailbox is watched with the token');
  });

  test('signed in, "Add a Test IdP mailbox" signs in at the provider with the device\'s token and comes back to the accounts, the mailbox renewed, not doubled', async () => {
    await page.getByRole('link', { name: 'Accounts' }).click();
    const start = page.waitForRequest((request) => request.url() === `${base}/v1/oauth/testidp/start`);
    await page.getByRole('button', { name: `Add a ${PROVIDER_NAME} mailbox` }).click();
    assert.equal((await start).headers().authorization, `Bearer ${token}`, 'the mailbox is for this device\'s user');
    await page.waitForURL((url) => url.href.startsWith(provider.issuer), { timeout: 5000 });
    // Still logged in at the provider from the first sign-in: it goes straight to its consent page.
    await page.getByRole('button', { name: 'Continue' }).click({ timeout: 5000 });
    // The same mailbox again: the callback gives its account the new grant and sends the browser
    // to #/oauth/added, which shows the accounts with no new token for this device.
    await page.waitForURL(`${base}/#/accounts`, { timeout: 10_000 });
    await page.locator('#view-accounts', { hasText: 'Signed in with the provider: the mailbox is on this list.' }).waitFor();
    assert.equal(await stored(page, 'mailpush.token'), token, 'the device keeps its own token');
    const accounts = (await api(base, 'GET', '/v1/accounts', { token })).body.accounts as Array<{ email: string }>;
    assert.deepEqual(accounts.map((a) => a.email), [person.email], 'one mailbox, not two');
    await page.context().close();
  });

  test('a handoff code used already shows its error screen; back on the first screen a password can still be chosen', async () => {
    assert.ok(usedHandoff);
    const other = await appPage();
    await other.goto(`${base}/#/oauth/done?handoff=${encodeURIComponent(usedHandoff)}`);
    await other.locator('#oauth-message', { hasText: 'This sign-in link was used already or has expired' }).waitFor();
    assert.equal(await other.locator('#oauth-title').innerText(), 'Sign-in did not finish');
    assert.doesNotMatch(other.url(), /handoff=/, 'the code is wiped from the address');
    assert.equal(await stored(other, 'mailpush.token'), null);
    assert.deepEqual(await other.evaluate(LOW_CONTRAST), [], 'the error screen is readable');
    await other.getByRole('link', { name: 'Back to sign-in' }).click();
    await other.locator('#view-register').waitFor();

    // The provider's address folds the password away; the person can still ask for it.
    await other.locator('#register-email').fill(person.email);
    await other.locator('#register-email').blur();
    await other.locator('#register-oauth-note', { hasText: `sign in with ${PROVIDER_NAME}: no password is stored here` }).waitFor();
    assert.equal(await other.getByRole('button', { name: 'Continue' }).isVisible(), false);
    assert.deepEqual(await other.evaluate(LOW_CONTRAST), [], 'the leading provider button and its note are readable');
    await other.getByRole('button', { name: 'Use a password instead' }).click();
    assert.equal(await other.locator('#register-password').isVisible(), true);
    assert.equal(await other.getByRole('button', { name: 'Continue' }).isVisible(), true);
    await other.context().close();
  });
});

test('denying consent at the provider shows the error screen in the browser\'s language (Japanese), and nothing is stored', async () => {
  const person = await providerUser();
  const page = await appPage({ locale: 'ja-JP' });
  await page.goto(base);
  await startSignIn(page, person, `${PROVIDER_NAME} でサインイン`);
  await logInAtProvider(page, person);
  await page.getByRole('link', { name: '[ Cancel ]' }).click();

  await page.locator('#oauth-message', { hasText: 'プロバイダーでアクセスが許可されなかったため' }).waitFor();
  assert.equal(await page.locator('#oauth-title').innerText(), 'サインインを完了できませんでした');
  assert.equal(new URL(page.url()).hash, '#/oauth/error?code=oauth_denied');
  assert.equal(await stored(page, 'mailpush.token'), null);
  await page.getByRole('link', { name: 'サインイン画面に戻る' }).click();
  await page.locator('#view-register').waitFor();
  await page.context().close();
  assert.deepEqual(pageProblems, []);
});

test('a grant withdrawn at the provider: the accounts screen shows "Sign in again", and signing in there brings the same account back to Connected', async () => {
  const person = await providerUser();
  const { token, account } = await signInOverHttp(base, provider, person.user);
  const accountOf = async () => (await api(base, 'GET', `/v1/accounts/${account.id}`, { token })).body.account as { state: string };
  await waitFor(async () => (await accountOf()).state === 'idle', { timeoutMs: 10_000, what: 'the account to idle' });
  // The person withdraws mailpush's access at the provider. The account starts over (as after a
  // dropped connection): its token is refused, the one refresh is answered invalid_grant.
  await provider.revokeGrants(person.user);
  assert.equal((await api(base, 'PATCH', `/v1/accounts/${account.id}`, { token, body: { mailboxes: ['INBOX'] } })).status, 200);
  await waitFor(async () => (await accountOf()).state === 'reauth_required', { timeoutMs: 15_000, what: 'reauth_required' });

  const page = await appPage({ token });
  await page.goto(`${base}/#/accounts`);
  const item = page.locator(`#accounts > li[data-account-id="${account.id}"]`);
  await item.locator('.state', { hasText: 'Sign in again' }).waitFor();
  assert.match(await item.innerText(), new RegExp(`${PROVIDER_NAME} no longer accepts this sign-in`));
  await item.getByRole('button', { name: `Sign in again with ${PROVIDER_NAME}` }).click();
  await logInAtProvider(page, person);
  await page.getByRole('button', { name: 'Continue' }).click();

  await page.waitForURL(`${base}/#/accounts`, { timeout: 10_000 });
  await item.locator('.state', { hasText: 'Connected' }).waitFor({ timeout: 10_000 });
  const accounts = (await api(base, 'GET', '/v1/accounts', { token })).body.accounts as Array<{ id: string; state: string }>;
  assert.deepEqual(accounts.map((a) => [a.id, a.state]), [[account.id, 'idle']], 'the same account, watched again');
  assert.equal(await stored(page, 'mailpush.token'), token, 'the device keeps its own token');
  await page.context().close();
  assert.deepEqual(pageProblems, []);
});
