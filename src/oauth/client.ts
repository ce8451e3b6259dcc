// The OpenID/OAuth client of a provider as openid-client needs it, shared by the web role's
// sign-in (src/roles/web/oauth-sign-in.ts) and the workers' token refresh.

import * as oidc from 'openid-client';
import type { OAuthProvider } from './providers.js';

/** How long the provider may take to answer discovery, the code exchange or userinfo. */
const PROVIDER_TIMEOUT_SECONDS = 10;

/** The OpenID/OAuth client of one provider, as openid-client needs it. */
export async function clientOf(provider: OAuthProvider): Promise<oidc.Configuration> {
  const endpoints = provider.issuer ? undefined : provider.endpoints;
  // providers.ts allows http only on loopback (a provider on this machine, as in the tests).
  const insecure = (provider.issuer ?? endpoints?.tokenEndpoint ?? '').startsWith('http:');
  const options = { timeout: PROVIDER_TIMEOUT_SECONDS, ...(insecure ? { execute: [oidc.allowInsecureRequests] } : {}) };
  if (provider.issuer) return oidc.discovery(new URL(provider.issuer), provider.clientId, provider.clientSecret, undefined, options);
  const metadata: oidc.ServerMetadata = {
    issuer: new URL(endpoints!.authorizationEndpoint).origin,
    authorization_endpoint: endpoints!.authorizationEndpoint,
    token_endpoint: endpoints!.tokenEndpoint,
    ...(endpoints!.userinfoEndpoint ? { userinfo_endpoint: endpoints!.userinfoEndpoint } : {}),
  };
  const client = new oidc.Configuration(metadata, provider.clientId, provider.clientSecret);
  client.timeout = PROVIDER_TIMEOUT_SECONDS;
  if (insecure) oidc.allowInsecureRequests(client);
  return client;
}
