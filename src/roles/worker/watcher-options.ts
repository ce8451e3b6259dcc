// What a MailboxWatcher is given and what it reports, apart from the watcher itself so that its
// helpers (reconnect policy, NOTIFY folders) can name them without importing the class.

import type { ImapFlow } from 'imapflow';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { EventLog, Lease } from '../../core/ports.js';
import type { AccountState, ImapSettings } from '../../core/types.js';
import type { ImapClientOptions, ImapCredential } from '../../imap/client.js';
import type { GatewayMetrics } from '../../observability/metrics.js';
import type { PushHandoff } from '../../push/push-handoff.js';
import type { NotifyFolders } from './notify-folders.js';

export type WatcherState = Exclude<AccountState, 'disabled'>;

export interface WatcherStatus {
  state: WatcherState;
  error?: string;
  unseen?: number;
}

export interface MailboxWatcherOptions {
  lease: Lease;
  mailbox: string;
  settings: ImapSettings;
  /** The password, or the OAuth access token. */
  password: ImapCredential;
  eventLog: EventLog;
  /** Queues Web Push for what an append stored; absent when push is off. */
  pushes?: PushHandoff;
  imap: ImapClientOptions;
  config: Pick<Config, 'imap' | 'events'>;
  log: Logger;
  onStatus(status: WatcherStatus): void;
  /** The store says another worker holds the account now. */
  onLeaseLost(): void;
  metrics?: GatewayMetrics;
  /** Set Dovecot's http-notify METADATA for this login on every connect (one watcher per account). */
  dovecotOptIn?: boolean;
  /**
   * The account's other mailboxes, watched over this watcher's connection when the server has
   * NOTIFY (this watcher then drives the connection); absent for a single mailbox.
   */
  notifyFolders?: NotifyFolders;
  /** STATUS (UNSEEN UIDNEXT) of a mailbox; on a connection under NOTIFY it must not mistake another folder's STATUS for the answer. */
  readStatus?(client: ImapFlow, mailbox: string): Promise<{ unseen?: number; uidNext?: number }>;
}

/** The store says another worker holds the account: stop for good. */
export class LeaseLostError extends Error {}
