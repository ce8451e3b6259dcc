import type { AccountState, AccountView, ImapSettings } from '../protocol/accounts.js';
import type { AccountRef } from './account-ref.js';

// The wire types live in src/protocol (shared with the web app); re-exported here so the server's
// modules keep one place to import their types from.
export type { AccountState, AccountView, ImapSecurity, ImapSettings, PreviewLevel } from '../protocol/accounts.js';
export type { AnyMailEvent, EventDataByType, EventType, MailAddress, MailEvent, NewEvent } from '../protocol/events.js';

/** An account as stored, with what only the server may see (its owner, the sealed password). */
export interface AccountRecord extends AccountRef {
  email: string;
  imap: ImapSettings;
  /**
   * AES-256-GCM sealed IMAP password (see core/secret-box.ts); with auth "oauth2", the sealed
   * OAuth grant instead (JSON, see oauth/grant.ts), so access and refresh token change together.
   */
  sealedPassword: string;
  /** "oauth2": the mailbox logs in with the provider's access token (SASL OAUTHBEARER / XOAUTH2). */
  auth?: 'oauth2';
  /** The OAuth provider's id, with auth "oauth2". */
  provider?: string;
  /** https URL template of one message in the webmail ({uid}, {mailbox}). */
  webmailUrl?: string;
  mailboxes: string[];
  disabled: boolean;
  state: AccountState;
  lastError?: string;
  unseen?: number;
  createdAt: string;
  updatedAt: string;
}

export function toAccountView(record: AccountRecord): AccountView {
  return {
    id: record.accountId,
    email: record.email,
    imap: { ...record.imap },
    mailboxes: [...record.mailboxes],
    state: record.state,
    ...(record.lastError ? { lastError: record.lastError } : {}),
    ...(record.unseen !== undefined ? { unseen: record.unseen } : {}),
    updatedAt: record.updatedAt,
    ...(record.auth ? { auth: record.auth, provider: record.provider ?? '' } : {}),
    ...(record.webmailUrl ? { webmailUrl: record.webmailUrl } : {}),
  };
}
