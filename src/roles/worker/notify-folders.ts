// An account's other mailboxes, watched over the one connection of its home mailbox's watcher
// (INBOX) when the server has NOTIFY (RFC 5465). Without NOTIFY each gets a connection of its own.
//
// Under NOTIFY a change in another folder arrives as an untagged STATUS naming the folder, never
// the message, and IMAP can fetch only from the selected mailbox. So the folder is visited: a short
// read-only EXAMINE with QRESYNC (RFC 7162) from the HIGHESTMODSEQ of the last visit, which makes
// the server list the flag changes (FETCH) and expunges (VANISHED) since then in its answer; new
// mail is fetched above the watermark as in the home mailbox; then back to the home mailbox with
// QRESYNC from where we left it, so whatever changed there meanwhile is reported too. One EXAMINE
// per change, instead of a connection per folder: the server counts one login, we hold one socket.
// Visits run in the home watcher's queue, so they never overlap its own fetches.

import type { ExistsEvent, ExpungeEvent, FlagsEvent, ImapFlow } from 'imapflow';
import type { Logger } from 'pino';
import { MAX_MAILBOXES_WITHOUT_NOTIFY } from '../../protocol/accounts.js';
import { notifySet, onUnsolicitedStatus, sameMailbox, statusShowsChange, statusUnderNotify, type MailboxStatus } from '../../imap/notify.js';
import type { FolderWatcher } from './folder-watcher.js';
import type { WatcherState } from './watcher-options.js';

/** What the home watcher lends its folders. */
export interface NotifyHome {
  readonly mailbox: string;
  /** Runs `task` in the home watcher's queue; a failure drops the connection. */
  schedule(client: ImapFlow, task: () => Promise<void>): void;
  /** Selects the home mailbox again after a round of visits, with QRESYNC `since` where it left. */
  reselect(client: ImapFlow, since: { uidValidity?: bigint; changedSince?: bigint }): Promise<void>;
}

export interface NotifyFoldersHooks {
  log: Logger;
  /** The server has no NOTIFY: the folders need connections of their own (the first `limit`). */
  separately(limit: number): void;
}

export class NotifyFolders {
  private mode: 'undecided' | 'notify' | 'separate' = 'undecided';
  /** The connection NOTIFY is set on, while it is open. */
  private client: ImapFlow | undefined;
  private readonly due = new Set<string>();
  private roundQueued = false;
  private homeState: WatcherState = 'connecting';

  constructor(private readonly folders: readonly FolderWatcher[], private readonly hooks: NotifyFoldersHooks) {}

  /**
   * Called by the home watcher once its own catch-up is done, in its queue: sets NOTIFY and visits
   * every folder (the catch-up after a restart covers them all). Without NOTIFY, hands the folders
   * their own connections, once.
   */
  async attach(client: ImapFlow, home: NotifyHome): Promise<void> {
    if (this.mode === 'separate') return;
    if (!client.capabilities.has('NOTIFY')) return this.fallBack('the server has no NOTIFY');
    onUnsolicitedStatus(client, (status) => this.onStatus(client, home, status));
    try {
      await notifySet(client, this.folders.map((folder) => folder.mailbox));
    } catch (error) {
      // Announced but refused (NO/BAD): it would be refused on every reconnect too.
      const answer = (error as { responseStatus?: string; responseText?: string }).responseStatus;
      if (answer !== 'NO' && answer !== 'BAD') throw error;
      return this.fallBack(`the server refused NOTIFY: ${(error as { responseText?: string }).responseText ?? answer}`);
    }
    this.mode = 'notify';
    this.client = client;
    this.due.clear();
    client.once('close', () => {
      if (this.client === client) this.client = undefined;
    });
    for (const folder of this.folders) this.due.add(folder.mailbox);
    await this.visitDue(client, home, true);
  }

  private fallBack(why: string): void {
    this.mode = 'separate';
    this.hooks.log.info({ folders: this.folders.length, why }, 'one IMAP connection per folder');
    this.hooks.separately(MAX_MAILBOXES_WITHOUT_NOTIFY - 1);
  }

  /** The home watcher's state changed: under NOTIFY the folders show it too. */
  followHome(state: WatcherState): void {
    this.homeState = state;
    if (this.mode === 'notify') for (const folder of this.folders) folder.follow(state);
  }

  /** True when `path` is one of these folders and the event went to it. */
  route(kind: 'flags', event: FlagsEvent): boolean;
  route(kind: 'expunge', event: ExpungeEvent): boolean;
  route(kind: 'exists', event: ExistsEvent): boolean;
  route(kind: 'flags' | 'expunge' | 'exists', event: FlagsEvent | ExpungeEvent | ExistsEvent): boolean {
    const folder = this.folderOf(event.path);
    if (!folder) return false;
    if (kind === 'flags') folder.onFlags(event as FlagsEvent);
    else if (kind === 'expunge') folder.onExpunge(event as ExpungeEvent);
    // New mail while the folder is examined: look again after this visit.
    else this.due.add(folder.mailbox);
    return true;
  }

  /** STATUS (UNSEEN UIDNEXT), read so that a NOTIFY STATUS of another folder is not taken for its answer. */
  async readStatus(client: ImapFlow, mailbox: string): Promise<{ unseen?: number; uidNext?: number }> {
    if (client !== this.client) {
      const status = await client.status(mailbox, { unseen: true, uidNext: true });
      if (!status) return {};
      return { ...(typeof status.unseen === 'number' ? { unseen: status.unseen } : {}), ...(typeof status.uidNext === 'number' ? { uidNext: status.uidNext } : {}) };
    }
    return statusUnderNotify(client, mailbox, (other) => this.dueFrom(other));
  }

  private folderOf(path: string | undefined): FolderWatcher | undefined {
    if (path === undefined) return undefined;
    const wanted = sameMailbox(path);
    return this.folders.find((folder) => sameMailbox(folder.mailbox) === wanted);
  }

  /** Marks the folder as due when the STATUS shows a change not seen on its last visit. */
  private dueFrom(status: MailboxStatus): boolean {
    const folder = this.folderOf(status.mailbox);
    if (!folder || !statusShowsChange(status, folder.lastVisit)) return false;
    this.due.add(folder.mailbox);
    return true;
  }

  private onStatus(client: ImapFlow, home: NotifyHome, status: MailboxStatus): void {
    if (!this.dueFrom(status) || this.roundQueued || client !== this.client) return;
    this.roundQueued = true;
    home.schedule(client, async () => {
      this.roundQueued = false;
      await this.visitDue(client, home, false);
    });
  }

  /** Visits every due folder, then selects the home mailbox again. */
  private async visitDue(client: ImapFlow, home: NotifyHome, catchUp: boolean): Promise<void> {
    if (this.due.size === 0 || !client.usable) return;
    const left = client.mailbox || undefined;
    // Bounded: a folder that changes on every visit must not keep the home mailbox away for ever.
    for (let visits = 0; this.due.size > 0 && visits < this.folders.length * 2; visits++) {
      const [name] = this.due;
      this.due.delete(name!);
      await this.folderOf(name)?.visit(client, catchUp, this.homeState);
    }
    // imapflow keeps the selected mailbox's HIGHESTMODSEQ current from the FETCH MODSEQ it sees, so
    // QRESYNC from there lists what changed while we were away (and little that was reported already).
    await home.reselect(client, left && sameMailbox(left.path) === sameMailbox(home.mailbox) && left.highestModseq
      ? { uidValidity: left.uidValidity, changedSince: left.highestModseq }
      : {});
    if (this.due.size > 0) this.onStatus(client, home, { mailbox: [...this.due][0]! });
  }
}
