// OAuth2 sign-in with real parts: a real OpenID provider on loopback (oidc-provider, certified)
// issues tokens through the authorization code flow with PKCE, and a real Dovecot accepts them for
// IMAP (SASL OAUTHBEARER / XOAUTH2) after asking the provider's introspection endpoint whether
// they are active, like Gmail and Microsoft 365 do with their own tokens.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { loadConfig } from '../../src/config.js';
import { connectImap, ImapConnectError, type ImapClientOptions } from '../../src/imap/client.js';
import { HostLimiter } from '../../src/imap/host-limiter.js';
import type { Dovecot, DovecotUser } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import { startOidcProvider, type OidcProvider } from '../helpers/oidc-provider.js';

const fixtures = useFixtures();
let provider: OidcProvider;
let dovecot: Dovecot;
let imap: ImapClientOptions;

before(async () => {
  provider = await fixtures.start('OpenID provider', startOidcProvider({ redirectUri: 'http://127.0.0.1:9/v1/oauth/callback' }), (p) => p.stop());
  dovecot = await fixtures.dovecot({ oauth2: { introspectionUrl: provider.introspectionUrlWithCredentials } });
  const config = loadConfig({
    REDIS_URL: 'redis://127.0.0.1:6390',
    MAILPUSH_SECRET: 'a-secret-of-enough-length-for-32-characters',
    IMAP_ALLOW_PRIVATE: 'true',
    IMAP_ALLOW_INSECURE: 'true',
    IMAP_ALLOWED_PORTS: String(dovecot.imapPort),
  });
  imap = { config, limiter: new HostLimiter(4) };
});

/** A mailbox person at the provider: their login there is the Dovecot user name. */
async function providerUser(): Promise<DovecotUser> {
  const user = await dovecot.addUser();
  provider.addUser(user.user, user.email);
  return user;
}

/** The authorization code flow with PKCE, as the gateway's client will run it. */
async function obtainTokens(login: string): Promise<oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers> {
  const client = await oidc.discovery(new URL(provider.issuer), provider.clientId, provider.clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const authorizeUrl = oidc.buildAuthorizationUrl(client, {
    redirect_uri: provider.redirectUri,
    scope: 'openid email offline_access',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    prompt: 'consent',
  });
  const callback = await provider.signIn(authorizeUrl.href, login);
  return oidc.authorizationCodeGrant(client, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
}

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
