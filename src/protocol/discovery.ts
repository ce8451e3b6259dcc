// GET /v1/discover: the IMAP server (and OAuth provider) suggested for an address, shared by the
// server's schema and the web app's registration form.

import type { ImapSecurity } from './accounts.js';

/** Where a suggestion came from, in the order they are tried. */
export const DISCOVERY_SOURCES = ['preset', 'mx', 'srv', 'autoconfig', 'default'] as const;
export type DiscoverySource = (typeof DISCOVERY_SOURCES)[number];

/** SASL mechanisms an OAuth2 access token logs in to IMAP with. */
export const OAUTH_MECHANISMS = ['XOAUTH2', 'OAUTHBEARER'] as const;
export type OAuthMechanism = (typeof OAUTH_MECHANISMS)[number];

/**
 * The answer to GET /v1/discover?email=. Only a suggestion: registration applies the gateway's
 * host and port policy to whatever is sent. `oauth` names a provider that is on here and whose
 * IMAP server this is (the web app offers "Sign in with …" for it), else null.
 */
export interface DiscoveryResult {
  imap: { host: string; port: number; security: ImapSecurity };
  oauth: { provider: string } | null;
  source: DiscoverySource;
}

/** The most an address may be (RFC 5321's path limit). */
export const EMAIL_MAX_LENGTH = 254;
