// The world of test/integration/oauth.test.ts: a real OpenID provider on loopback, a Dovecot that
// takes its tokens (asking the provider's introspection endpoint), and a `mailpush all` gateway that
// knows the provider several ways: plain, pinned to XOAUTH2, pinned to XOAUTH2 at a second Dovecot
// that offers only OAUTHBEARER, and one that is down. Plus what the tests ask the provider and
// Dovecot outside the gateway.

import * as oidc from 'openid-client';
import { loadConfig } from '../../src/config.js';
import type { ImapClientOptions } from '../../src/imap/client.js';
import { HostLimiter } from '../../src/imap/host-limiter.js';
import type { Dovecot, DovecotUser } from './dovecot.js';
import type { Fixtures } from './fixtures.js';
import { gatewayEnv } from './gateway-env.js';
import { startOidcProvider, type OidcProvider } from './oidc-provider.js';
import { freePort } from './ports.js';
import type { PushService } from './push-service.js';

export interface OAuthGateway {
  provider: OidcProvider;
  dovecot: Dovecot;
  push: PushService;
  /** The gateway's URL, which is also its PUBLIC_URL. */
  base: string;
  /** Everything the gateway logged (at debug level), as one string. */
  logs(): string;
  /** For connectImap() from the test itself, against `dovecot`. */
  imap: ImapClientOptions;
  /** A person at the provider whose login there is their Dovecot user name. */
  providerUser(): Promise<DovecotUser>;
  /** The authorization code flow with PKCE for `login`, run by the test as the gateway's client would. */
  obtainTokens(login: string): Promise<oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers>;
  /** Dovecot's imap-login lines for `user` (each login, refused or not, writes one), and its logins by method. */
  imapLogins(user: string): Promise<{ lines: number; methods: string[] }>;
}

export async function startOAuthGateway(fixtures: Fixtures): Promise<OAuthGateway> {
  // The provider must know the gateway's redirect URI before the gateway knows the provider.
  const gatewayPort = await freePort();
  const publicUrl = `http://127.0.0.1:${gatewayPort}`;
  const provider = await fixtures.start('OpenID provider', startOidcProvider({ redirectUri: `${publicUrl}/v1/oauth/callback` }), (p) => p.stop());
  const introspectionUrl = provider.introspectionUrlWithCredentials;
  const [redis, push, dovecot, bearerOnly] = await Promise.all([
    fixtures.redis(),
    fixtures.pushService(),
    fixtures.dovecot({ oauth2: { introspectionUrl } }),
    fixtures.dovecot({ oauth2: { introspectionUrl, mechanisms: ['oauthbearer'] } }),
  ]);
  const imapSettings = { host: '127.0.0.1', port: dovecot.imapPort, security: 'none' };
  const idp = { issuer: provider.issuer, clientId: provider.clientId, clientSecret: provider.clientSecret, scopes: ['openid', 'email', 'offline_access'] };
  const providers = [
    { id: 'testidp', name: 'Test IdP', ...idp, imap: imapSettings },
    // The same provider, its logins pinned to SASL XOAUTH2 (Dovecot offers OAUTHBEARER first).
    { id: 'xoauthidp', name: 'XOAUTH2 IdP', ...idp, imap: imapSettings, mechanism: 'XOAUTH2' },
    // Pinned to XOAUTH2 at a server that offers only OAUTHBEARER.
    { id: 'pinnedidp', name: 'Pinned IdP', ...idp, imap: { ...imapSettings, port: bearerOnly.imapPort }, mechanism: 'XOAUTH2' },
    // A provider that is down: nothing listens on its port.
    { id: 'downidp', name: 'Down IdP', issuer: `http://127.0.0.1:${await freePort()}`, clientId: 'x', clientSecret: 'y', scopes: ['openid', 'email'], imap: imapSettings },
  ];
  const gateway = await fixtures.mailpush('all', gatewayEnv({
    redisUrl: redis.url,
    imapPort: dovecot.imapPort,
    push,
    // debug: the log test also covers what is only logged at debug level.
    env: {
      PUBLIC_URL: publicUrl, OAUTH_PROVIDERS: JSON.stringify(providers), LOG_LEVEL: 'debug',
      IMAP_ALLOWED_PORTS: `${dovecot.imapPort},${bearerOnly.imapPort}`,
    },
  }), { port: gatewayPort });
  if (new URL(gateway.url!).origin !== publicUrl) throw new Error(`the gateway is at ${gateway.url}, not at its PUBLIC_URL ${publicUrl}`);
  const config = loadConfig({
    REDIS_URL: 'redis://127.0.0.1:6390',
    MAILPUSH_SECRET: 'a-secret-of-enough-length-for-32-characters',
    IMAP_ALLOW_PRIVATE: 'true',
    IMAP_ALLOW_INSECURE: 'true',
    IMAP_ALLOWED_PORTS: String(dovecot.imapPort),
  });

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

  return {
    provider,
    dovecot,
    push,
    base: gateway.url!,
    logs: () => JSON.stringify(gateway.logs),
    imap: { config, limiter: new HostLimiter(4) },
    async providerUser() {
      const user = await dovecot.addUser();
      provider.addUser(user.user, user.email);
      return user;
    },
    obtainTokens,
    async imapLogins(user) {
      const log = (await dovecot.readLog()).split('\n').filter((line) => line.includes('imap-login:') && line.includes(`user=<${user}>`));
      return { lines: log.length, methods: log.flatMap((line) => /Login: user=<[^>]*>, method=(\w+)/.exec(line)?.[1] ?? []) };
    },
  };
}

/**
 * A sign-in through the gateway over HTTP, as a browser would make it (the binding cookie kept
 * from start to callback), traded at POST /v1/oauth/handoff: the answer's token, account and
 * `created`. For tests that need a signed-in OAuth mailbox and are about something else.
 */
export async function signInOverHttp(base: string, provider: OidcProvider, login: string, providerId = 'testidp'): Promise<{ token: string; account: { id: string; state: string }; created: boolean }> {
  const start = await fetch(`${base}/v1/oauth/${providerId}/start`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  if (start.status !== 200) throw new Error(`start answered ${start.status}: ${await start.text()}`);
  const cookie = start.headers.getSetCookie().at(-1)!.split(';')[0]!;
  const callback = await provider.signIn(((await start.json()) as { authorizeUrl: string }).authorizeUrl, login);
  const landing = await fetch(callback, { redirect: 'manual', headers: { cookie } });
  const route = new URL(landing.headers.get('location') ?? '', base).hash;
  const handoff = new URLSearchParams(route.split('?')[1]).get('handoff');
  if (!handoff) throw new Error(`the callback sent the browser to ${route}`);
  const done = await fetch(`${base}/v1/oauth/handoff`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ handoff }) });
  if (done.status !== 201) throw new Error(`handoff answered ${done.status}: ${await done.text()}`);
  return (await done.json()) as { token: string; account: { id: string; state: string }; created: boolean };
}
