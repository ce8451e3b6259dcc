import type { ImapSecurity } from '../config.js';
import type { AccountRef } from './account-ref.js';

export type AccountState =
  | 'connecting'
  | 'idle'
  | 'polling'
  | 'reconnecting'
  | 'auth_failed'
  | 'error'
  | 'disabled';

/** What the worker needs to reach a mailbox, with the password still encrypted. */
export interface ImapSettings {
  host: string;
  port: number;
  security: ImapSecurity;
  user: string;
}

export interface AccountRecord extends AccountRef {
  email: string;
  imap: ImapSettings;
  /** AES-256-GCM sealed IMAP password (see core/secret-box.ts). */
  sealedPassword: string;
  mailboxes: string[];
  disabled: boolean;
  state: AccountState;
  lastError?: string;
  unseen?: number;
  createdAt: string;
  updatedAt: string;
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
  };
}

export interface MailAddress {
  name: string;
  address: string;
}

export interface EventDataByType {
  'mail.new': {
    uid: number;
    uidValidity: string;
    messageId: string | null;
    from: MailAddress;
    subject: string;
    date: string | null;
    snippet: string | null;
    unseen: number;
    catchUp: boolean;
  };
  'mail.batch': { count: number; firstUid: number; lastUid: number; unseen: number; catchUp: boolean };
  'mail.flags': { uid: number; seen: boolean; flags: string[]; unseen: number };
  'mail.expunged': { uids?: number[]; unseen: number };
  'mailbox.reset': { uidValidity: string };
  'account.state': { state: AccountState; error?: string };
}

export type EventType = keyof EventDataByType;

/** An event before the log gives it an id. */
export interface NewEvent<T extends EventType = EventType> {
  type: T;
  accountId: string;
  mailbox: string | null;
  time: string;
  data: EventDataByType[T];
}

/** An event as every channel carries it. `id` is the event log's, opaque and increasing per user. */
export type MailEvent<T extends EventType = EventType> = NewEvent<T> & { id: string };
