// Keeping an OAuth mailbox's login alive: its access token is refreshed before it expires, by the
// worker holding the account's lease (so one refresher at a time), and the new grant, with a
// rotated refresh token if the provider rotates them, replaces the old one in one write.

import * as oidc from 'openid-client';
import type { OAuthGrant } from './grant.js';
import type { OAuthProvider } from './providers.js';
import { clientOf } from './client.js';

/** Refresh at the latest this long before the access token expires. */
export const REFRESH_MARGIN_MS = 60_000;

/**
 * How long to wait before refreshing: until REFRESH_MARGIN_MS before expiry, or, for a token that
 * lives shorter than twice the margin, half its remaining life (never a refresh loop).
 */
export function refreshDelayMs(expiresAt: number, now: number): number {
  const left = expiresAt - now;
  if (left <= 0) return 0;
  return left > 2 * REFRESH_MARGIN_MS ? left - REFRESH_MARGIN_MS : Math.floor(left / 2);
}

/** The provider refused the refresh token for good (revoked, expired, password changed). */
export class GrantRevokedError extends Error {
  constructor(provider: string) {
    super(`${provider} no longer accepts this sign-in; sign in with ${provider} again`);
    this.name = 'GrantRevokedError';
  }
}

const clients = new Map<string, Promise<oidc.Configuration>>();

/**
 * The host limiter's key for a provider's token endpoint: refreshes wait for a slot there like
 * logins per IMAP host (IMAP_CONNECT_CONCURRENCY), so a fleet of accounts whose tokens expire
 * together (a restart, tokens issued at once) never storms the provider. Providers sharing an
 * endpoint (tenants of one issuer) share the limit.
 */
export function tokenEndpointKey(provider: OAuthProvider): string {
  return `oauth-token:${provider.endpoints?.tokenEndpoint ?? provider.issuer ?? provider.id}`;
}

export async function refreshGrant(provider: OAuthProvider, grant: OAuthGrant): Promise<OAuthGrant> {
  if (!grant.refreshToken) throw new GrantRevokedError(provider.name);
  let client = clients.get(provider.id);
  if (!client) {
    client = clientOf(provider);
    client.catch(() => clients.delete(provider.id));
    clients.set(provider.id, client);
  }
  try {
    const tokens = await oidc.refreshTokenGrant(await client, grant.refreshToken);
    return {
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token ?? grant.refreshToken,
      ...(tokens.expires_in !== undefined ? { expiresAt: Date.now() + tokens.expires_in * 1000 } : {}),
    };
  } catch (error) {
    if (error instanceof oidc.ResponseBodyError && error.error === 'invalid_grant') throw new GrantRevokedError(provider.name);
    throw error;
  }
}
