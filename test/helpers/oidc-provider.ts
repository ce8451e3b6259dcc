// A real OpenID provider on loopback (the certified `oidc-provider` package), playing Google or
// Microsoft for the OAuth2 tests: one confidential client, authorization code with PKCE (S256
// required), refresh tokens, token introspection (Dovecot's oauth2 passdb asks it whether an IMAP
// login's token is active) and revocation.
//
// Its login and consent pages are oidc-provider's development interactions: any login name is
// accepted. signIn() walks those pages over HTTP like a browser would (cookies, redirects, form
// posts), so the code flow really runs; it stops at the redirect to the client's redirect URI.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import { LOOPBACK } from './ports.js';

export interface OidcProviderOptions {
  /** The one redirect URI the client may use, e.g. `${PUBLIC_URL}/v1/oauth/callback`. */
  redirectUri: string;
  /** Access token lifetime. @default 3600 */
  accessTokenTtlSeconds?: number;
}

export interface OidcProvider {
  /** `http://127.0.0.1:<port>`; OpenID discovery at `${issuer}/.well-known/openid-configuration`. */
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly redirectUri: string;
  /** Where Dovecot posts `token=` to ask whether a token is active (client credentials in the URL). */
  readonly introspectionUrlWithCredentials: string;
  /**
   * A person at the provider: `login` is what they type on the login page (the token's `sub`),
   * `email` the claim the gateway reads as the IMAP user name.
   */
  addUser(login: string, email: string): void;
  /**
   * The person withdraws the client's access (as at Google's "Third-party apps" page): every grant
   * of `login` with its refresh and access tokens is gone; a refresh is answered invalid_grant.
   */
  revokeGrants(login: string): Promise<void>;
  /**
   * The provider withdraws the access tokens of `login` before they expire, keeping the refresh
   * tokens (as when a provider rotates its signing keys or ends a session early): introspection
   * answers inactive, a refresh still works.
   */
  revokeAccessTokens(login: string): Promise<void>;
  /** Access tokens issued from now on live this long (refreshes included). */
  setAccessTokenTtl(seconds: number): void;
  /** Requests the provider's endpoints saw, by path (e.g. `/token`, `/token/introspection`). */
  requestCount(path: string): number;
  /**
   * Follows `authorizeUrl` through the login page (as `login`) and the consent page (approved, or
   * aborted with `deny`), returning the URL the provider finally redirects to: the redirect URI
   * with `code` and `state`, or with `error`.
   */
  signIn(authorizeUrl: string, login: string, options?: { deny?: boolean }): Promise<URL>;
  stop(): Promise<void>;
}

/** A browser's cookie handling, as far as the provider's interaction pages need it. */
class CookieJar {
  private readonly cookies = new Map<string, string>();
  store(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

export async function startOidcProvider(options: OidcProviderOptions): Promise<OidcProvider> {
  const clientId = `mailpush-${randomBytes(4).toString('hex')}`;
  const clientSecret = randomBytes(24).toString('base64url');
  const emails = new Map<string, string>();
  const counts = new Map<string, number>();
  let accessTokenTtl = options.accessTokenTtlSeconds ?? 3600;

  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const issuer = `http://${LOOPBACK}:${(server.address() as AddressInfo).port}`;

  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [options.redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    async findAccount(_ctx, sub) {
      return {
        accountId: sub,
        async claims() {
          const email = emails.get(sub);
          return { sub, ...(email ? { email, email_verified: true } : {}) };
        },
      };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    scopes: ['openid', 'email', 'offline_access'],
    pkce: { required: () => true },
    // Like Google and Microsoft: the email claim is in the ID token, not only at userinfo.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
    },
    ttl: {
      AccessToken: () => accessTokenTtl,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 86_400,
      Grant: 86_400,
      Interaction: 600,
      Session: 3600,
    },
    // offline_access is granted without prompt=consent being forced on every sign-in.
    issueRefreshToken: async (_ctx, client, code) =>
      client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    cookies: { keys: [randomBytes(32).toString('hex')] },
  });
  // Its own warnings (dev interactions, http issuer) are expected here.
  provider.on('server_error', (_ctx, error) => process.stderr.write(`oidc-provider: ${String(error)}\n`));
  // Grants per login, to revoke them as a person would at the provider; access tokens per login, to
  // withdraw them alone (revokeByGrantId would take the refresh tokens too).
  const grants = new Map<string, Set<string>>();
  const accessTokens = new Map<string, Set<string>>();
  const rememberByLogin = (byLogin: Map<string, Set<string>>) => (saved: { accountId?: string; jti: string }) => {
    if (!saved.accountId) return;
    const ids = byLogin.get(saved.accountId) ?? new Set<string>();
    ids.add(saved.jti);
    byLogin.set(saved.accountId, ids);
  };
  provider.on('grant.saved', rememberByLogin(grants));
  provider.on('access_token.saved', rememberByLogin(accessTokens));
  const handle = provider.callback();
  server.on('request', (req, res) => {
    const path = new URL(req.url ?? '/', issuer).pathname;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    void handle(req, res);
  });

  async function signIn(authorizeUrl: string, login: string, signInOptions: { deny?: boolean } = {}): Promise<URL> {
    const jar = new CookieJar();
    let url = new URL(authorizeUrl);
    let body: URLSearchParams | undefined;
    for (let hop = 0; hop < 20; hop++) {
      if (!url.href.startsWith(issuer)) return url; // left the provider: the redirect URI
      const response = await fetch(url, {
        method: body ? 'POST' : 'GET',
        redirect: 'manual',
        headers: { cookie: jar.header(), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
        ...(body ? { body } : {}),
      });
      jar.store(response);
      body = undefined;
      const location = response.headers.get('location');
      if (location) {
        url = new URL(location, url);
        continue;
      }
      const page = await response.text();
      if (response.status !== 200) throw new Error(`provider answered ${response.status} at ${url.pathname}: ${page.slice(0, 300)}`);
      // An interaction page: the login form, or the consent form.
      if (page.includes('name="prompt" value="login"')) {
        body = new URLSearchParams({ prompt: 'login', login, password: 'any' });
      } else if (page.includes('name="prompt" value="consent"')) {
        if (signInOptions.deny) {
          url = new URL(`${url.pathname}/abort`, url);
          continue;
        }
        body = new URLSearchParams({ prompt: 'consent' });
      } else {
        throw new Error(`unexpected provider page at ${url.pathname}: ${page.slice(0, 300)}`);
      }
      const action = /<form[^>]*action="([^"]+)"/.exec(page)?.[1];
      if (!action) throw new Error(`no form on the provider page at ${url.pathname}`);
      url = new URL(action.replace(/&amp;/g, '&'), url);
    }
    throw new Error('the provider redirected more than 20 times');
  }

  const introspection = new URL(`${issuer}/token/introspection`);
  introspection.username = encodeURIComponent(clientId);
  introspection.password = encodeURIComponent(clientSecret);

  return {
    issuer,
    clientId,
    clientSecret,
    redirectUri: options.redirectUri,
    introspectionUrlWithCredentials: introspection.href,
    addUser(login, email) {
      emails.set(login, email);
    },
    async revokeGrants(login) {
      for (const grantId of grants.get(login) ?? []) {
        await Promise.all([provider.AccessToken, provider.RefreshToken, provider.AuthorizationCode].map((model) => model.revokeByGrantId(grantId)));
        await (await provider.Grant.find(grantId))?.destroy();
      }
      grants.delete(login);
    },
    async revokeAccessTokens(login) {
      for (const jti of accessTokens.get(login) ?? []) await (await provider.AccessToken.find(jti))?.destroy();
      accessTokens.delete(login);
    },
    setAccessTokenTtl(seconds) {
      accessTokenTtl = seconds;
    },
    requestCount: (path) => counts.get(path) ?? 0,
    signIn,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
