// OAuth2 sign-in with real parts: a real OpenID provider on loopback (oidc-provider, certified)
// issues tokens through the authorization code flow with PKCE, and a real Dovecot accepts them for
// IMAP (SASL OAUTHBEARER / XOAUTH2) after asking the provider's introspection endpoint whether
// they are active, like Gmail and Microsoft 365 do with their own tokens. The gateway signs
// mailboxes in through the provider over HTTP, as a browser would: start → the provider's login and
// consent pages → the gateway's callback → the web app's handoff → mail arrives live.
// The gateway runs as a `mailpush all` process that sends Web Push to the test push service, which
// decrypts what it gets (the "sign in again" push). test/helpers/oauth-gateway.ts starts them all.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { connectImap, ImapConnectError, type ImapClientOptions } from '../../src/imap/client.js';
import { bindingCookieName } from '../../src/roles/web/oauth-sign-in.js';
import type { Dovecot, DovecotUser } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import { api, openReadyStream } from '../helpers/gateway.js';
import { buildMessage } from '../helpers/message.js';
import { startOAuthGateway, type OAuthGateway } from '../helpers/oauth-gateway.js';
import type { OidcProvider } from '../helpers/oidc-provider.js';
import type { PushService } from '../helpers/push-service.js';
import { waitFor } from '../helpers/wait.js';

const fixtures = useFixtures();
let world: OAuthGateway;
let provider: OidcProvider;
let dovecot: Dovecot;
let push: PushService;
let imap: ImapClientOptions;
let base: string;

before(async () => {
  world = await startOAuthGateway(fixtures);
  ({ provider, dovecot, push, imap, base } = world);
});

const providerUser = () => world.providerUser();
const obtainTokens = (login: string) => world.obtainTokens(login);
const imapLogins = (user: string) => world.imapLogins(user);
const gatewayLogs = () => world.logs();

const settings = (user: DovecotUser) => ({ host: dovecot.host, port: dovecot.imapPort, security: 'none' as const, user: user.email });

test('an access token from the provider logs in to the OAuth2 Dovecot through connectImap', async () => {
  const alice = await providerUser();
  const tokens = await obtainTokens(alice.user);
  assert.equal(tokens.claims()?.email, alice.email, 'the ID token names the mailbox');
  assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');

  const client = await connectImap(settings(alice), { accessToken: tokens.access_token }, imap);
  try {
    const status = await client.status('INBOX', { messages: true });
    assert.equal(status && status.messages, 0, 'the mailbox opens');
  } finally {
    await client.logout();
  }
  const log = await dovecot.readLog();
  assert.match(log, new RegExp(`imap-login: Info: Login: user=<${alice.user}>, method=(OAUTHBEARER|XOAUTH2)`), 'Dovecot logged the token login');
  assert.ok(provider.requestCount('/token/introspection') >= 1, 'Dovecot asked the provider about the token');
});

test('a token for another mailbox, a revoked token and a made-up token are refused as auth_failed', async () => {
  const [alice, bob] = [await providerUser(), await providerUser()];
  const bobs = await obtainTokens(bob.user);
  const refused = (e: unknown) => e instanceof ImapConnectError && e.kind === 'auth_failed';
  await assert.rejects(connectImap(settings(alice), { accessToken: bobs.access_token }, imap), refused, "bob's token does not open alice's mailbox");
  await assert.rejects(connectImap(settings(alice), { accessToken: 'not-a-token-the-provider-issued' }, imap), refused);

  const alices = await obtainTokens(alice.user);
  const client = await oidc.discovery(new URL(provider.issuer), provider.clientId, provider.clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
  await oidc.tokenRevocation(client, alices.access_token);
  await assert.rejects(connectImap(settings(alice), { accessToken: alices.access_token }, imap), refused, 'a revoked token is refused');
});

interface SignInOptions {
  deny?: boolean;
  tamper?: (callback: URL) => URL;
  /** Signed in already: the mailbox is added to this token's user. */
  token?: string;
  /** @default "testidp" */
  providerId?: string;
}

/**
 * A person signs in through the gateway as a browser would: the web app asks for the provider's
 * URL (the browser keeps the binding cookie start sets), the person logs in and consents there, the
 * provider sends the browser to the gateway's callback, and the gateway sends it on to the web app.
 * Returns where the web app is sent, the callback URL and the browser's cookie.
 */
async function signInThroughGateway(login: string, options: SignInOptions = {}): Promise<{ location: URL; callback: URL; cookie: string }> {
  const start = await api(base, 'POST', `/v1/oauth/${options.providerId ?? 'testidp'}/start`, { body: { email: `${login}@example.test`, deviceName: 'Phone' }, ...(options.token ? { token: options.token } : {}) });
  assert.equal(start.status, 200, JSON.stringify(start.body));
  const authorizeUrl = new URL(start.body.authorizeUrl);
  assert.equal(authorizeUrl.searchParams.get('code_challenge_method'), 'S256');
  assert.ok(authorizeUrl.searchParams.get('state') && authorizeUrl.searchParams.get('nonce'));
  assert.equal(authorizeUrl.searchParams.get('login_hint'), `${login}@example.test`);
  const cookie = start.headers.getSetCookie()[0]!.split(';')[0]!;
  let callback = await provider.signIn(authorizeUrl.href, login, options.deny ? { deny: true } : {});
  assert.equal(callback.origin + callback.pathname, `${base}/v1/oauth/callback`);
  if (options.tamper) callback = options.tamper(callback);
  return { location: await follow(callback, cookie), callback, cookie };
}

/** The browser arrives at the callback, with the cookie it has (or none). */
async function follow(callback: URL, cookie?: string): Promise<URL> {
  const response = await fetch(callback, { redirect: 'manual', ...(cookie ? { headers: { cookie } } : {}) });
  assert.equal(response.status, 302);
  const state = callback.searchParams.get('state');
  if (state) assert.deepEqual(response.headers.getSetCookie(), [`${bindingCookieName(state)}=; Max-Age=0; Path=/v1/oauth/; HttpOnly; SameSite=Lax`], "the callback clears its sign-in's binding cookie");
  return new URL(response.headers.get('location')!);
}

/** A sign-in through the gateway, traded for the device token. */
async function signedIn(login: string, options: SignInOptions = {}): Promise<{ token: string; account: any }> {
  const done = await api(base, 'POST', '/v1/oauth/handoff', { body: { handoff: appRoute((await signInThroughGateway(login, options)).location).params.get('handoff') } });
  assert.equal(done.status, 201, JSON.stringify(done.body));
  return done.body;
}

const accountOf = async (token: string, id: string) => (await api(base, 'GET', `/v1/accounts/${id}`, { token })).body.account;
const untilIdle = (token: string, id: string, what: string) => waitFor(async () => (await accountOf(token, id)).state === 'idle', { timeoutMs: 15_000, what });
/** The web app's view of where it was sent: `#/oauth/done?handoff=` or `#/oauth/error?code=`. */
function appRoute(location: URL): { route: string; params: URLSearchParams } {
  assert.equal(location.origin, base, 'back to the gateway\'s own web app');
  const [route, query] = location.hash.slice(1).split('?');
  return { route: route!, params: new URLSearchParams(query) };
}

test('sign-in through the provider: handoff once, the account idles on its token and mail arrives live', async () => {
  const carol = await providerUser();
  const { location } = await signInThroughGateway(carol.user);
  const { route, params } = appRoute(location);
  assert.equal(route, '/oauth/done');
  assert.deepEqual([...params.keys()], ['handoff'], 'only a one-time code in the URL, never a token');

  const handoff = await api(base, 'POST', '/v1/oauth/handoff', { body: { handoff: params.get('handoff') } });
  assert.equal(handoff.status, 201, JSON.stringify(handoff.body));
  const { token, account, created, device } = handoff.body;
  assert.equal(created, true);
  assert.equal(device.name, 'Phone');
  assert.deepEqual([account.auth, account.provider, account.email, account.imap.user], ['oauth2', 'testidp', carol.email, carol.email]);
  const replay = await api(base, 'POST', '/v1/oauth/handoff', { body: { handoff: params.get('handoff') } });
  assert.deepEqual([replay.status, replay.body.error.code], [400, 'oauth_handoff_invalid'], 'a handoff code works once');

  await waitFor(async () => (await api(base, 'GET', `/v1/accounts/${account.id}`, { token })).body.account.state === 'idle', { timeoutMs: 15_000, what: 'the OAuth account to idle' });
  const stream = await openReadyStream(base, token);
  await dovecot.deliver(carol.email, buildMessage({ from: { address: 'friend@example.test' }, to: carol.email, subject: 'signed in with a token' }));
  await stream.waitFor((m) => m.type === 'mail.new' && m.data.subject === 'signed in with a token', 10_000, 'the mail on the stream');
  stream.close();
  assert.match(await dovecot.readLog(), new RegExp(`Login: user=<${carol.user}>, method=(OAUTHBEARER|XOAUTH2)`), 'the worker logged in with the token');

  const patch = await api(base, 'PATCH', `/v1/accounts/${account.id}`, { token, body: { imap: { pass: 'a password' } } });
  assert.deepEqual([patch.status, patch.body.error.code], [400, 'invalid_request'], 'no password for an OAuth mailbox');

  // Signing in again (another device) finds the same account and gives it the new grant.
  const again = appRoute((await signInThroughGateway(carol.user)).location);
  const second = await api(base, 'POST', '/v1/oauth/handoff', { body: { handoff: again.params.get('handoff') } });
  assert.equal(second.status, 201);
  assert.deepEqual([second.body.created, second.body.account.id], [false, account.id]);
});

test('sign-in errors land on the web app\'s error screen with a code: denied consent, tampered or replayed state, a token the IMAP server refuses, a failed exchange, a provider that is down', async () => {
  const dave = await providerUser();
  assert.equal(appRoute((await signInThroughGateway(dave.user, { deny: true })).location).params.get('code'), 'oauth_denied');

  const tampered = await signInThroughGateway(dave.user, { tamper: (url) => { const u = new URL(url); u.searchParams.set('state', 'forged'); return u; } });
  assert.equal(appRoute(tampered.location).params.get('code'), 'oauth_state_invalid');

  const once = await signInThroughGateway(dave.user);
  assert.equal(appRoute(once.location).route, '/oauth/done');
  assert.equal(appRoute(await follow(once.callback, once.cookie)).params.get('code'), 'oauth_state_invalid', 'a state works once');

  // The provider names dave's mailbox for mallory's login: the token is mallory's, and Dovecot
  // (asking the provider) refuses it for dave's mailbox.
  provider.addUser('mallory', dave.email);
  assert.equal(appRoute((await signInThroughGateway('mallory')).location).params.get('code'), 'imap_auth_failed');

  // A forged authorization code: the provider refuses the exchange.
  const forged = await signInThroughGateway(dave.user, { tamper: (url) => { const u = new URL(url); u.searchParams.set('code', 'forged-code'); return u; } });
  assert.equal(appRoute(forged.location).params.get('code'), 'oauth_exchange_failed');

  const startedAt = Date.now();
  const down = await api(base, 'POST', '/v1/oauth/downidp/start', { body: {} });
  assert.deepEqual([down.status, down.body.error.code], [502, 'oauth_provider_unavailable'], JSON.stringify(down.body));
  assert.ok(Date.now() - startedAt < 15_000, 'a provider that is down is reported within its timeout');

  const unknown = await api(base, 'POST', '/v1/oauth/nope/start', { body: {} });
  assert.deepEqual([unknown.status, unknown.body.error.code], [404, 'not_found']);
  const providers = await api(base, 'GET', '/v1/oauth/providers');
  assert.deepEqual(providers.body, { providers: [{ id: 'testidp', name: 'Test IdP' }, { id: 'xoauthidp', name: 'XOAUTH2 IdP' }, { id: 'pinnedidp', name: 'Pinned IdP' }, { id: 'downidp', name: 'Down IdP' }] });
  assert.deepEqual((await api(base, 'GET', '/v1/config')).body.oauth, providers.body, 'GET /v1/config lists them too');
  const badBody = await api(base, 'POST', '/v1/oauth/handoff', { body: {} });
  assert.deepEqual([badBody.status, badBody.body.error.code], [400, 'invalid_request']);
});

test('neither the authorization code nor the handoff code nor any token reaches the gateway log', async () => {
  const erin = await providerUser();
  const { location, callback } = await signInThroughGateway(erin.user);
  const handoff = appRoute(location).params.get('handoff')!;
  const done = await api(base, 'POST', '/v1/oauth/handoff', { body: { handoff } });
  assert.equal(done.status, 201);
  const logs = gatewayLogs();
  for (const secret of [callback.searchParams.get('code')!, callback.searchParams.get('state')!, handoff, done.body.token as string]) {
    assert.ok(!logs.includes(secret), `a secret of the sign-in is in the log: ${secret.slice(0, 6)}…`);
  }
});

test('short-lived access tokens are refreshed before they expire: the worker logs in with each new one and mail keeps arriving', async (t) => {
  provider.setAccessTokenTtl(8);
  t.after(() => provider.setAccessTokenTtl(3600));
  const frank = await providerUser();
  const done = await api(base, 'POST', '/v1/oauth/handoff', { body: { handoff: appRoute((await signInThroughGateway(frank.user)).location).params.get('handoff') } });
  assert.equal(done.status, 201);
  const { token, account } = done.body;
  const stream = await openReadyStream(base, token);
  const logins = async () => ((await dovecot.readLog()).match(new RegExp(`Login: user=<${frank.user}>, method=OAUTHBEARER`, 'g')) ?? []).length;
  const tokenRequests = provider.requestCount('/token');
  // The sign-in's own check is one login, the worker's first session another; two refreshes later, two more.
  await waitFor(async () => provider.requestCount('/token') >= tokenRequests + 2 && (await logins()) >= 4, { timeoutMs: 30_000, what: 'two refreshes, each followed by a login with the new token' });
  await waitFor(async () => (await api(base, 'GET', `/v1/accounts/${account.id}`, { token })).body.account.state === 'idle', { timeoutMs: 15_000, what: 'the account to idle on a refreshed token' });
  await dovecot.deliver(frank.email, buildMessage({ from: { address: 'friend@example.test' }, to: frank.email, subject: 'after two refreshes' }));
  await stream.waitFor((m) => m.type === 'mail.new' && m.data.subject === 'after two refreshes', 15_000, 'the mail after the refreshes');
  stream.close();
  assert.ok(!gatewayLogs().includes(token), 'no token in the log');
  // Its 8 s tokens would go on being refreshed and blur the token requests the tests below count.
  assert.equal((await api(base, 'DELETE', `/v1/accounts/${account.id}`, { token })).status, 204);
});

test('login CSRF: the callback accepts a state only from the browser that started the sign-in (its HttpOnly, SameSite=Lax cookie)', async () => {
  const ivy = await providerUser();
  const start = await api(base, 'POST', '/v1/oauth/testidp/start', { body: {} });
  assert.equal(start.status, 200);
  const [setCookie] = start.headers.getSetCookie();
  const state = new URL(start.body.authorizeUrl).searchParams.get('state')!;
  assert.match(setCookie!, new RegExp(`^${bindingCookieName(state)}=[\\w.-]{40,}; Max-Age=600; Path=/v1/oauth/; HttpOnly; SameSite=Lax$`), 'named for its sign-in, short-lived, HttpOnly, Lax (not Secure: PUBLIC_URL is http here)');

  // An attacker's own sign-in, its callback URL sent to a victim's browser (which lacks the cookie).
  const attackers = await startedSignIn(ivy.user);
  assert.equal(appRoute(await follow(attackers.callback)).params.get('code'), 'oauth_state_invalid', 'without the cookie');
  assert.equal(appRoute(await follow(attackers.callback, attackers.cookie)).params.get('code'), 'oauth_state_invalid', 'the refused state is used up');
  // A browser that carries the cookie of another sign-in.
  const other = await startedSignIn(ivy.user);
  assert.equal(appRoute(await follow(other.callback, attackers.cookie)).params.get('code'), 'oauth_state_invalid', "another sign-in's cookie");
  // The right cookie name (the state is no secret) with a value of the attacker's choosing.
  const forged = await startedSignIn(ivy.user);
  assert.equal(appRoute(await follow(forged.callback, `${forged.cookie.split('=')[0]}=${other.cookie.split('=')[1]}`)).params.get('code'), 'oauth_state_invalid', 'a forged value');
  const fine = await startedSignIn(ivy.user);
  assert.equal(appRoute(await follow(fine.callback, fine.cookie)).route, '/oauth/done', 'with its own cookie it works');
});

/**
 * Start (in a browser that has the cookies `jar` already) and the provider's pages, stopping before
 * the browser reaches the callback. Returns the new binding cookie and every Set-Cookie of the start.
 */
async function startedSignIn(login: string, jar?: string): Promise<{ callback: URL; cookie: string; setCookies: string[] }> {
  const start = await api(base, 'POST', '/v1/oauth/testidp/start', { body: {}, ...(jar ? { headers: { cookie: jar } } : {}) });
  assert.equal(start.status, 200);
  const setCookies = start.headers.getSetCookie();
  return { callback: await provider.signIn(start.body.authorizeUrl, login), cookie: setCookies.at(-1)!.split(';')[0]!, setCookies };
}

test('sign-ins started at once in one browser (tabs) each finish, in any order; a browser keeps at most 5 pending, the oldest dropped', async () => {
  const ola = await providerUser();
  // One browser: each start carries the cookies of the ones before it.
  const tabs: Array<{ callback: URL; cookie: string }> = [];
  for (let i = 0; i < 3; i++) tabs.push(await startedSignIn(ola.user, tabs.map((tab) => tab.cookie).join('; ')));
  assert.equal(new Set(tabs.map((tab) => tab.cookie.split('=')[0])).size, 3, 'a cookie per sign-in');
  // The middle one first, then the first, then the last: each callback clears only its own cookie.
  const jar = new Set(tabs.map((tab) => tab.cookie));
  for (const tab of [tabs[1]!, tabs[0]!, tabs[2]!]) {
    const { route, params } = appRoute(await follow(tab.callback, [...jar].join('; ')));
    assert.equal(route, '/oauth/done', `finished with the other sign-ins pending too, not ${params.get('code')}`);
    jar.delete(tab.cookie);
  }

  // Five pending sign-ins; a sixth start drops the oldest one's cookie, and that one fails.
  const pending: Array<{ callback: URL; cookie: string; setCookies: string[] }> = [];
  for (let i = 0; i < 6; i++) pending.push(await startedSignIn(ola.user, pending.map((p) => p.cookie).join('; ')));
  const sixth = pending[5]!;
  assert.equal(sixth.setCookies.length, 2, sixth.setCookies.join('\n'));
  assert.match(sixth.setCookies[0]!, new RegExp(`^${pending[0]!.cookie.split('=')[0]}=; Max-Age=0; Path=/v1/oauth/; HttpOnly; SameSite=Lax$`), 'the oldest cookie goes');
  const browser = pending.slice(1).map((p) => p.cookie).join('; ');
  assert.equal(appRoute(await follow(pending[0]!.callback, browser)).params.get('code'), 'oauth_state_invalid', 'the dropped sign-in');
  assert.equal(appRoute(await follow(pending[1]!.callback, browser)).route, '/oauth/done', 'the next oldest is kept');
  assert.equal(appRoute(await follow(sixth.callback, browser)).route, '/oauth/done');
});

test('a user deleted while at the provider (a sign-in started with its token) gets no account: the callback answers unauthorized', async () => {
  const [pat, quinn] = [await providerUser(), await providerUser()];
  const { token } = await signedIn(pat.user);
  const start = await api(base, 'POST', '/v1/oauth/testidp/start', { body: {}, token });
  assert.equal(start.status, 200);
  const callback = await provider.signIn(start.body.authorizeUrl, quinn.user);
  assert.equal((await api(base, 'DELETE', '/v1/users/me', { token })).status, 204);
  assert.equal(appRoute(await follow(callback, start.headers.getSetCookie()[0]!.split(';')[0]!)).params.get('code'), 'unauthorized');
  // Quinn's mailbox was not stored for the deleted user: signing in with it registers it anew.
  const quinns = await api(base, 'POST', '/v1/oauth/handoff', { body: { handoff: appRoute((await signInThroughGateway(quinn.user)).location).params.get('handoff') } });
  assert.deepEqual([quinns.status, quinns.body.created], [201, true]);
});

test('a provider pinned to a mechanism its IMAP server does not offer: imap_auth_failed, the log names the mechanism', async () => {
  const rob = await providerUser();
  assert.equal(appRoute((await signInThroughGateway(rob.user, { providerId: 'pinnedidp' })).location).params.get('code'), 'imap_auth_failed');
  // The gateway is another process: its log line may reach us a moment after the redirect.
  await waitFor(() => /the IMAP server does not offer SASL XOAUTH2/.test(gatewayLogs()), { timeoutMs: 5000, what: 'the log line naming the mechanism' });
});

test('a grant revoked at the provider: reauth_required with an event and a push, no login or refresh until the person signs in again, which restores the same account', async (t) => {
  provider.setAccessTokenTtl(8);
  t.after(() => provider.setAccessTokenTtl(3600));
  const gina = await providerUser();
  const { token, account } = await signedIn(gina.user);
  const subscription = await api(base, 'POST', '/v1/push/subscriptions', { token, body: { subscription: push.subscribe(`gina-${account.id}`), preview: 'none' } });
  assert.equal(subscription.status, 201, JSON.stringify(subscription.body));
  await untilIdle(token, account.id, 'the account to idle');
  const stream = await openReadyStream(base, token);

  await provider.revokeGrants(gina.user);
  const event = await stream.waitFor((m) => m.type === 'account.state' && m.data.state === 'reauth_required', 20_000, 'reauth_required on the stream');
  assert.match(event.data.error, /sign in with Test IdP again/);
  assert.equal((await accountOf(token, account.id)).state, 'reauth_required');
  await waitFor(() => push.received.some((r) => r.name === `gina-${account.id}`), { timeoutMs: 10_000, what: 'the sign-in-again push' });
  const [pushed] = push.received.filter((r) => r.name === `gina-${account.id}`);
  assert.deepEqual([pushed!.payload.type, pushed!.payload.accountId, pushed!.payload.title], ['reauth', account.id, 'Sign in again to keep getting mail']);

  // From here on nothing is tried: not after the token's expiry, not when the account is
  // restarted from the store (as after a PATCH, a worker restart or a lease moving).
  const tokensAtReauth = provider.requestCount('/token');
  const loginsAtReauth = (await imapLogins(gina.user)).lines;
  const patched = await api(base, 'PATCH', `/v1/accounts/${account.id}`, { token, body: { mailboxes: ['INBOX'] } });
  assert.deepEqual([patched.status, patched.body.account.state], [200, 'reauth_required']);

  // Signing in again (the sentinel): the same account, idle on the new grant, mail arrives. Until
  // then, the only token request was the sign-in's code exchange and the only logins its own.
  provider.setAccessTokenTtl(3600);
  const again = await signedIn(gina.user);
  assert.deepEqual([again.account.id, again.account.state], [account.id, 'connecting']);
  await untilIdle(token, account.id, 'the account to idle again after signing in');
  assert.equal(provider.requestCount('/token'), tokensAtReauth + 1, 'no refresh while reauth_required: one code exchange');
  assert.equal((await imapLogins(gina.user)).lines, loginsAtReauth + 2, "no login while reauth_required: the sign-in's check and the worker's session");
  await dovecot.deliver(gina.email, buildMessage({ from: { address: 'friend@example.test' }, to: gina.email, subject: 'signed in again' }));
  await stream.waitFor((m) => m.type === 'mail.new' && m.data.subject === 'signed in again', 15_000, 'the mail after signing in again');
  stream.close();
  assert.equal(push.received.filter((r) => r.name === `gina-${account.id}` && r.payload.type === 'reauth').length, 1, 'one sign-in-again push');
});

test('an access token the IMAP server refuses before its time: one refresh and a new login, and the account stays connected', async () => {
  const ivan = await providerUser();
  const { token, account } = await signedIn(ivan.user);
  await untilIdle(token, account.id, 'the account to idle');
  const tokens = provider.requestCount('/token');
  const before = await imapLogins(ivan.user);

  await provider.revokeAccessTokens(ivan.user);
  // The account starts over (the same happens when the connection drops): its login is refused.
  assert.equal((await api(base, 'PATCH', `/v1/accounts/${account.id}`, { token, body: { mailboxes: ['INBOX'] } })).status, 200);
  await waitFor(async () => (await imapLogins(ivan.user)).methods.length >= before.methods.length + 1, { timeoutMs: 15_000, what: 'a login with the refreshed token' });
  await untilIdle(token, account.id, 'the account to idle on the refreshed token');
  assert.equal(provider.requestCount('/token'), tokens + 1, 'exactly one refresh');
  const after = await imapLogins(ivan.user);
  assert.equal(after.lines - before.lines, 2, 'one refused login, then one with the new token');
  const events = (await api(base, 'GET', '/v1/events', { token })).body.events as Array<{ type: string; accountId: string; data: { state?: string } }>;
  assert.ok(!events.some((e) => e.accountId === account.id && e.type === 'account.state' && e.data.state === 'auth_failed'), 'never shown as auth_failed');
});

test('a provider pinned to XOAUTH2: the sign-in check and the worker log in with XOAUTH2 although Dovecot offers OAUTHBEARER', async () => {
  const judy = await providerUser();
  const { token, account } = await signedIn(judy.user, { providerId: 'xoauthidp' });
  assert.equal(account.provider, 'xoauthidp');
  await untilIdle(token, account.id, 'the account to idle');
  const judys = (await imapLogins(judy.user)).methods;
  assert.ok(judys.length >= 2 && judys.every((m) => m === 'XOAUTH2'), `the sign-in's check and the worker's session: ${judys.join(', ')}`);
  const kate = await providerUser();
  await signedIn(kate.user);
  const kates = (await imapLogins(kate.user)).methods;
  assert.ok(kates.length >= 1 && kates.every((m) => m === 'OAUTHBEARER'), `unpinned: what the server offers first: ${kates.join(', ')}`);
});

test('signed in, POST /start with the bearer token adds the mailbox to that user; another user\'s mailbox is refused; the same mailbox gets the new grant', async () => {
  const [leo, mia] = [await providerUser(), await providerUser()];
  const { token, account: leos } = await signedIn(leo.user);
  const added = await signInThroughGateway(mia.user, { token });
  const route = appRoute(added.location);
  assert.equal(route.route, '/oauth/added');
  const miasId = route.params.get('account')!;
  const listed = (await api(base, 'GET', '/v1/accounts', { token })).body.accounts as Array<{ id: string; email: string; auth: string }>;
  assert.deepEqual(listed.map((a) => [a.id, a.email, a.auth]).sort(), [[leos.id, leo.email, 'oauth2'], [miasId, mia.email, 'oauth2']].sort());
  await untilIdle(token, miasId, "mia's mailbox to idle for leo's user");

  // Mia's mailbox again, from leo's user: the same account with the new grant.
  assert.deepEqual(appRoute((await signInThroughGateway(mia.user, { token })).location).params.get('account'), miasId);
  // Another user (nina) may not take leo's mailbox.
  const nina = await providerUser();
  const { token: ninas } = await signedIn(nina.user);
  assert.equal(appRoute((await signInThroughGateway(leo.user, { token: ninas })).location).params.get('code'), 'account_exists');
  assert.equal((await api(base, 'GET', '/v1/accounts', { token: ninas })).body.accounts.length, 1);
  const badToken = await api(base, 'POST', '/v1/oauth/testidp/start', { body: {}, token: 'mpt_not-a-token' });
  assert.deepEqual([badToken.status, badToken.body.error.code], [401, 'unauthorized']);
});
