// Accounts as the API shows them (REST, the stream's `ready`, GET /v1/config), shared by the
// server and the web app. Type-only apart from the const lists, which the server's TypeBox
// schemas, config checks and metrics are built from, so a new state or level is added in one place.

import type { DeviceView } from './devices.js';
import type { OAuthProviderView } from './oauth.js';

export const IMAP_SECURITIES = ['tls', 'starttls', 'none'] as const;
export type ImapSecurity = (typeof IMAP_SECURITIES)[number];

/**
 * How many mailboxes (folders) one account may watch. With NOTIFY (RFC 5465) they all share one
 * IMAP connection, so a folder costs the server a STATUS per change and us one short EXAMINE,
 * not a login and a socket; 20 covers a person's folders while bounding the NOTIFY SET line
 * (20 names of at most 255 bytes) and the round of EXAMINEs every reconnect makes.
 */
export const MAX_WATCHED_MAILBOXES = 20;
/**
 * Without NOTIFY each mailbox takes a connection of its own, counted against the server's limit per
 * user and address (Dovecot's mail_max_userip_connections is 10, Gmail allows 15, and every
 * account of a gateway comes from its address): beyond 5 the account shows an error.
 */
export const MAX_MAILBOXES_WITHOUT_NOTIFY = 5;

/**
 * An account's connection as the worker last reported it. `reauth_required`: the OAuth provider
 * refused the refresh token (revoked, expired, password changed); nothing is tried until the
 * person signs in with the provider again.
 */
export const ACCOUNT_STATES = ['connecting', 'idle', 'polling', 'reconnecting', 'auth_failed', 'reauth_required', 'error', 'disabled'] as const;
export type AccountState = (typeof ACCOUNT_STATES)[number];

/** How much of a message a push notification shows: nothing, the sender, or sender and subject. */
export const PREVIEW_LEVELS = ['none', 'sender', 'full'] as const;
export type PreviewLevel = (typeof PREVIEW_LEVELS)[number];

/** Where and how an account's mailbox is reached (the password is never shown). */
export interface ImapSettings {
  host: string;
  port: number;
  security: ImapSecurity;
  user: string;
}

/** The account as the API shows it: never the password. */
export interface AccountView {
  id: string;
  email: string;
  imap: ImapSettings;
  mailboxes: string[];
  state: AccountState;
  lastError?: string;
  unseen?: number;
  updatedAt: string;
  /** "oauth2" for a mailbox signed in with a provider (no password); absent for a password login. */
  auth?: 'oauth2';
  /** The OAuth provider's id, with auth "oauth2". */
  provider?: string;
  /** The link to one message in the person's webmail: an https URL with `{uid}` and `{mailbox}` placeholders. */
  webmailUrl?: string;
}

/** POST /v1/accounts. Left out, `host`, `port` and `security` are the gateway's defaults (PublicConfig). */
export interface CreateAccountRequest {
  imap: { host?: string; port?: number; security?: ImapSecurity; user: string; pass: string };
  email?: string;
  mailboxes?: string[];
  /** Without a token (signing in): the name of the device this makes. */
  deviceName?: string;
}

/**
 * The answer to POST /v1/accounts. Without a token the request signs in (like POST /v1/sessions):
 * `token`, `device` and `created` come only then.
 */
export interface CreatedAccount {
  account: AccountView;
  token?: string;
  device?: DeviceView;
  created?: boolean;
}

/** PATCH /v1/accounts/:id: at least one field. */
export interface PatchAccountRequest {
  imap?: { pass: string };
  mailboxes?: string[];
  disabled?: boolean;
  /** https URL template of a message in the webmail (`{uid}`, `{mailbox}`); null removes it. */
  webmailUrl?: string | null;
}

/** A folder of the mailbox, as GET /v1/accounts/:id/folders lists it. */
export interface MailboxFolder {
  /** The name to put in `mailboxes` (decoded; INBOX always spelled so). */
  name: string;
  /** What the server says the folder is for (RFC 6154): `\Sent`, `\Trash`, `\Junk`, … */
  specialUse?: string;
}

/** GET /v1/accounts/:id/folders: the folders to choose from, asked of the IMAP server just now. */
export interface AccountFolders {
  folders: MailboxFolder[];
  /** The server listed more than the gateway keeps (1,000). */
  truncated: boolean;
  /** How many mailboxes the account may watch on this server: more when it has NOTIFY. */
  maxMailboxes: number;
}

/** GET /v1/config: what a client needs before it has a token. */
export interface PublicConfig {
  /** `host` is absent when the gateway has no default IMAP host: the client must ask for one. */
  imap: { host?: string; port: number; security: ImapSecurity };
  push: { enabled: boolean };
  /** The sign-in providers that are on (as GET /v1/oauth/providers), for "Sign in with …" buttons. */
  oauth: { providers: OAuthProviderView[] };
}
