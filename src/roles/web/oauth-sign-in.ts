// Signing a mailbox in with its provider (OAuth2 authorization code flow with PKCE S256, `state`,
// and `nonce` where the provider speaks OpenID), through openid-client: nothing of OAuth is
// hand-written here. The browser carries only random codes: the `state` (whose record, with the
// PKCE verifier, stays on the server for 10 minutes) and the handoff code the callback gives the
// web app (2 minutes). Both are single use and stored only as hashes; no token is ever in a URL.
// What the handoff gives (a device token) is sealed while it waits.
//
// Login CSRF: a state alone would let an attacker start a sign-in with their own mailbox and send a
// victim's browser to the callback, signing the victim into the attacker's mailbox. So start also
// gives the browser a random value in a cookie (routes/oauth.ts sets it), whose hash is kept with
// the state: the callback accepts a state only from the browser that started it. Each sign-in has
// a cookie of its own, named by a short hash of its state, so sign-ins started at once in one
// browser (two tabs, or a second try before the first came back) do not undo each other.

import * as oidc from 'openid-client';
import type { OAuthFlowStore } from '../../core/ports.js';
import type { SecretBox } from '../../core/secret-box.js';
import { hashToken, newToken, safeEqual } from '../../core/tokens.js';
import { clientOf } from '../../oauth/client.js';
import type { OAuthGrant } from '../../oauth/grant.js';
import { oauthRedirectUri, type OAuthProvider, type OAuthSettings } from '../../oauth/providers.js';
import type { ErrorCode } from '../../protocol/errors.js';
import { OAUTH_ADDED_ROUTE, OAUTH_DONE_ROUTE, OAUTH_ERROR_ROUTE } from '../../protocol/oauth.js';
import type { AccountRegistration, SignIn } from './account-registration.js';
import { ApiError } from './errors.js';

export const STATE_TTL_MS = 10 * 60_000;
export const HANDOFF_TTL_MS = 2 * 60_000;
/** The binding cookies' names: this prefix and a short hash of the sign-in's state. */
export const BINDING_COOKIE_PREFIX = 'mailpush_oauth_';

/** The name of the cookie that binds the sign-in of `state` to its browser. */
export function bindingCookieName(state: string): string {
  // 64 bits of the hash: names only need to differ between one browser's few pending sign-ins.
  return `${BINDING_COOKIE_PREFIX}${hashToken(state).slice(0, 16)}`;
}

interface PendingSignIn {
  provider: string;
  verifier: string;
  nonce?: string;
  deviceName: string;
  /** Hash of the browser binding cookie's value. */
  browserHash: string;
  /** Started with a bearer token: the mailbox is added to this user instead of signing in. */
  userId?: string;
}

export interface StartRequest {
  email?: string;
  deviceName: string;
  /** The user of the start request's bearer token, if it had one. */
  userId?: string;
}

export interface StartedSignIn {
  authorizeUrl: string;
  /** The binding cookie: the random value the browser must bring back to the callback under this name. */
  binding: { name: string; value: string };
}

/** Where the callback sends the browser, and the binding cookie that is spent now (if the state was known). */
export interface CallbackOutcome {
  location: string;
  spentCookie?: string;
  /** Why the sign-in failed, for the operator's log (the browser gets only the code). */
  failure?: { code: ErrorCode; reason: string };
}

export interface OAuthSignInDeps {
  oauth: OAuthSettings;
  flows: OAuthFlowStore;
  registration: Pick<AccountRegistration, 'signIn' | 'addOAuthMailbox'>;
  secretBox: SecretBox;
}

/** Where the browser goes when a sign-in failed: the web app's error screen with the code. */
export class OAuthRedirectError extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
    this.name = 'OAuthRedirectError';
  }
}

export class OAuthSignIn {
  /** Discovery documents, fetched once per provider (again after a failure). */
  private readonly clients = new Map<string, Promise<oidc.Configuration>>();

  constructor(private readonly deps: OAuthSignInDeps) {}

  provider(id: string): OAuthProvider | undefined {
    return this.deps.oauth.providers.find((p) => p.id === id);
  }

  private client(provider: OAuthProvider): Promise<oidc.Configuration> {
    let client = this.clients.get(provider.id);
    if (!client) {
      client = clientOf(provider);
      client.catch(() => this.clients.delete(provider.id));
      this.clients.set(provider.id, client);
    }
    return client;
  }

  private get publicUrl(): string {
    // config.ts refuses to start with a provider on and no PUBLIC_URL.
    return this.deps.oauth.publicUrl ?? '';
  }

  /**
   * The provider's authorization URL for a new sign-in, and the value that binds it to the browser.
   * Throws ApiError 404 for an unknown provider, 502 when it cannot be reached.
   */
  async start(providerId: string, request: StartRequest): Promise<StartedSignIn> {
    const provider = this.provider(providerId);
    if (!provider) throw new ApiError(404, 'not_found', `no OAuth provider "${providerId}" on this gateway`);
    const client = await this.client(provider).catch((error: unknown) => {
      throw new ApiError(502, 'oauth_provider_unavailable', `${provider.name} cannot be reached: ${describe(error)}`);
    });
    const state = oidc.randomState();
    const verifier = oidc.randomPKCECodeVerifier();
    const openId = provider.scopes.includes('openid');
    const nonce = openId ? oidc.randomNonce() : undefined;
    // Its creation time first, so the route can tell a browser's oldest pending sign-in.
    const browserBinding = `${Date.now().toString(36)}.${oidc.randomState()}`;
    const pending: PendingSignIn = {
      provider: provider.id,
      verifier,
      deviceName: request.deviceName,
      browserHash: hashToken(browserBinding),
      ...(nonce ? { nonce } : {}),
      ...(request.userId ? { userId: request.userId } : {}),
    };
    await this.deps.flows.put('state', hashToken(state), JSON.stringify(pending), Date.now() + STATE_TTL_MS);
    const authorizeUrl = oidc.buildAuthorizationUrl(client, {
      redirect_uri: oauthRedirectUri(this.publicUrl),
      scope: provider.scopes.join(' '),
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      ...(nonce ? { nonce } : {}),
      ...(request.email ? { login_hint: request.email } : {}),
      // A refresh token is what keeps the mailbox watched. Google gives one only with
      // access_type=offline on consent; OpenID providers grant offline_access only with
      // prompt=consent (OpenID Connect Core 11). Microsoft grants it without asking again.
      ...(provider.id === 'google' ? { access_type: 'offline', prompt: 'consent' } : {}),
      ...(provider.id !== 'microsoft' && provider.scopes.includes('offline_access') ? { prompt: 'consent' } : {}),
    }).href;
    return { authorizeUrl, binding: { name: bindingCookieName(state), value: browserBinding } };
  }

  /**
   * The provider sent the browser back with `query` (the callback's raw query string) and the
   * browser's cookies. Returns where to send it next: the web app with a handoff code
   * (`#/oauth/done?handoff=`), with the account a signed-in user added (`#/oauth/added?account=`),
   * or its error screen with an error code (`#/oauth/error?code=`); and the binding cookie to clear.
   */
  async callback(query: string, cookies: Readonly<Record<string, string | undefined>>): Promise<CallbackOutcome> {
    const state = new URLSearchParams(query).get('state');
    const spentCookie = state ? { spentCookie: bindingCookieName(state) } : {};
    try {
      const done = await this.complete(query, state, state ? cookies[bindingCookieName(state)] : undefined);
      if ('accountId' in done) return { location: `${this.publicUrl}/#${OAUTH_ADDED_ROUTE}?account=${encodeURIComponent(done.accountId)}`, ...spentCookie };
      return { location: `${this.publicUrl}/#${OAUTH_DONE_ROUTE}?handoff=${encodeURIComponent(done.handoff)}`, ...spentCookie };
    } catch (error) {
      const known = error instanceof OAuthRedirectError || error instanceof ApiError;
      const code: ErrorCode = known ? error.code as ErrorCode : 'internal_error';
      const reason = known ? error.message : describe(error);
      return { location: `${this.publicUrl}/#${OAUTH_ERROR_ROUTE}?code=${encodeURIComponent(code)}`, ...spentCookie, failure: { code, reason } };
    }
  }

  private async complete(query: string, state: string | null, browserBinding: string | undefined): Promise<{ handoff: string } | { accountId: string }> {
    const params = new URLSearchParams(query);
    const raw = state ? await this.deps.flows.take('state', hashToken(state), Date.now()) : undefined;
    if (!raw) throw new OAuthRedirectError('oauth_state_invalid', 'this sign-in is unknown, expired or was completed already');
    const pending = JSON.parse(raw) as PendingSignIn;
    if (!browserBinding || typeof pending.browserHash !== 'string' || !safeEqual(hashToken(browserBinding), pending.browserHash)) {
      throw new OAuthRedirectError('oauth_state_invalid', 'this sign-in was started in another browser (or its cookie is gone)');
    }
    const provider = this.provider(pending.provider);
    if (!provider) throw new OAuthRedirectError('oauth_state_invalid', 'the provider of this sign-in is no longer configured');
    const denied = params.get('error');
    if (denied) throw new OAuthRedirectError(denied === 'access_denied' ? 'oauth_denied' : 'oauth_exchange_failed', `the provider answered ${denied}`);

    let tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;
    let user: string | undefined;
    try {
      const client = await this.client(provider);
      const currentUrl = new URL(`${oauthRedirectUri(this.publicUrl)}?${params.toString()}`);
      tokens = await oidc.authorizationCodeGrant(client, currentUrl, {
        pkceCodeVerifier: pending.verifier,
        expectedState: state!,
        ...(pending.nonce ? { expectedNonce: pending.nonce } : { idTokenExpected: false }),
      });
      user = await this.username(client, provider, tokens);
    } catch (error) {
      if (error instanceof OAuthRedirectError) throw error;
      throw new OAuthRedirectError('oauth_exchange_failed', `the code exchange with ${provider.name} failed: ${describe(error)}`);
    }
    const grant: OAuthGrant = {
      accessToken: tokens.access_token,
      ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
      ...(tokens.expires_in !== undefined ? { expiresAt: Date.now() + tokens.expires_in * 1000 } : {}),
    };
    const mailbox = {
      imap: { host: provider.imap.host, port: provider.imap.port, security: provider.imap.security, user, pass: '' },
      email: user,
      oauth: { provider: provider.id, grant, ...(provider.mechanism ? { mechanism: provider.mechanism } : {}) },
    };
    // An ApiError here (imap_auth_failed, account_exists, limit_reached …) becomes the error screen's code.
    if (pending.userId) {
      const added = await this.deps.registration.addOAuthMailbox(mailbox, pending.userId);
      return { accountId: added.record.accountId };
    }
    // The mailbox is the identity, exactly as with POST /v1/sessions.
    return { handoff: await this.handOff(await this.deps.registration.signIn({ ...mailbox, deviceName: pending.deviceName })) };
  }

  /** The IMAP user name: `usernameClaim` of the ID token, else of userinfo. */
  private async username(client: oidc.Configuration, provider: OAuthProvider, tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers): Promise<string> {
    const claims = tokens.claims();
    let value = claims?.[provider.usernameClaim];
    if (value === undefined && client.serverMetadata().userinfo_endpoint) {
      const info = await oidc.fetchUserInfo(client, tokens.access_token, claims?.sub ?? oidc.skipSubjectCheck);
      value = info[provider.usernameClaim];
    }
    if (typeof value !== 'string' || value === '') {
      throw new OAuthRedirectError('oauth_exchange_failed', `${provider.name} did not tell the mailbox's name (claim "${provider.usernameClaim}")`);
    }
    return value;
  }

  private async handOff(signIn: SignIn): Promise<string> {
    const code = newToken();
    const keyHash = hashToken(code);
    const answer = JSON.stringify({ token: signIn.token, deviceId: signIn.device.id, device: signIn.device, record: signIn.record, created: signIn.created });
    await this.deps.flows.put('handoff', keyHash, this.deps.secretBox.seal(answer, `oauth-handoff:${keyHash}`), Date.now() + HANDOFF_TTL_MS);
    return code;
  }

  /** The sign-in a handoff code stands for, once. Throws ApiError 400 oauth_handoff_invalid. */
  async redeem(code: string): Promise<SignIn> {
    const keyHash = hashToken(code);
    const sealed = await this.deps.flows.take('handoff', keyHash, Date.now());
    if (!sealed) throw new ApiError(400, 'oauth_handoff_invalid', 'this sign-in code is unknown, expired or was used already');
    return JSON.parse(this.deps.secretBox.open(sealed, `oauth-handoff:${keyHash}`)) as SignIn;
  }
}

function describe(error: unknown): string {
  const e = error as { code?: string; error?: string; message?: string; cause?: { code?: string } };
  return e.error ?? e.cause?.code ?? e.code ?? e.message ?? 'unknown error';
}
