// Signing a mailbox in with its provider (Google, Microsoft 365, or one the operator configured),
// as the web app and the gateway's routes (src/roles/web/routes/oauth.ts) speak it. The browser
// leaves for the provider with `authorizeUrl` and comes back to the web app at
// `#/oauth/done?handoff=…` (traded for a device token with POST /v1/oauth/handoff, whose answer is
// a SignInResponse) or `#/oauth/error?code=<ErrorCode>`.

/** One sign-in provider that is on (GET /v1/oauth/providers, GET /v1/config's `oauth.providers`). */
export interface OAuthProviderView {
  id: string;
  name: string;
}

/** POST /v1/oauth/:provider/start; with a bearer token the mailbox is added to that user. */
export interface OAuthStartRequest {
  /** Sent to the provider as login_hint, so the person picks the right account there. */
  email?: string;
  /** @default a name built from the browser's User-Agent */
  deviceName?: string;
}

export interface OAuthStartResponse {
  authorizeUrl: string;
}

/** POST /v1/oauth/handoff: the single-use code from `#/oauth/done?handoff=`. */
export interface OAuthHandoffRequest {
  handoff: string;
}

/** The web app's screens the gateway's callback sends the browser to (after `#`). */
export const OAUTH_DONE_ROUTE = '/oauth/done';
export const OAUTH_ERROR_ROUTE = '/oauth/error';
/** `#/oauth/added?account=<id>`: a signed-in device added a mailbox (or renewed its sign-in); no new token. */
export const OAUTH_ADDED_ROUTE = '/oauth/added';
