// What an OAuth sign-in leaves the gateway: the provider's tokens, kept like a password (sealed
// with MAILPUSH_SECRET, bound to the account id) in the account's one credential field, so a
// refresh that rotates the refresh token replaces both tokens with one write.

import type { SecretBox } from '../core/secret-box.js';
import type { ImapCredential } from '../imap/client.js';

export interface OAuthGrant {
  accessToken: string;
  /** Absent when the provider gave none (then the account needs a new sign-in when the access token expires). */
  refreshToken?: string;
  /** When the access token expires (epoch ms), if the provider said. */
  expiresAt?: number;
  /**
   * This grant came from the refresh after the IMAP server refused the previous access token; if
   * the server refuses this one too, that is an authentication failure, not a reason to refresh.
   */
  refreshedOnAuthFailure?: true;
}

export function sealGrant(secretBox: SecretBox, grant: OAuthGrant, accountId: string): string {
  return secretBox.seal(JSON.stringify(grant), accountId);
}

/** Throws when the sealed grant cannot be opened (another MAILPUSH_SECRET, tampering) or is not a grant. */
export function openGrant(secretBox: SecretBox, sealed: string, accountId: string): OAuthGrant {
  const grant = JSON.parse(secretBox.open(sealed, accountId)) as Partial<OAuthGrant>;
  if (typeof grant.accessToken !== 'string' || grant.accessToken === '') throw new Error('the sealed credential is not an OAuth grant');
  return grant as OAuthGrant;
}

/** How an account logs in to IMAP: its password, or its grant's access token. */
export function openImapCredential(secretBox: SecretBox, record: { sealedPassword: string; accountId: string; auth?: 'oauth2' }): ImapCredential {
  if (record.auth === 'oauth2') return { accessToken: openGrant(secretBox, record.sealedPassword, record.accountId).accessToken };
  return secretBox.open(record.sealedPassword, record.accountId);
}
