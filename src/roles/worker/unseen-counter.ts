// The unread count a watcher reports for its mailbox, in its events and in the account's status.
// Between STATUS answers the connection keeps the count itself (core/unseen-tally.ts), so new mail
// costs no round trip; where the tally cannot say (a new connection, a flag change or an expunge
// the watcher reports) the server is asked with STATUS. A count that differs from the last one
// reported is passed on, so the account's stored count follows it.

import type { ImapFlow } from 'imapflow';
import { UnseenTally, type FetchedFlags } from '../../core/unseen-tally.js';
import type { MailboxWatcherOptions } from './watcher-options.js';

export class UnseenCounter {
  private readonly tally = new UnseenTally();
  /** The unread count as last reported in an event or the account's status. */
  private reported: number | undefined;

  /** `changed` is called when a count differs from the last one reported. */
  constructor(
    private readonly mailbox: string,
    private readonly readStatus: MailboxWatcherOptions['readStatus'],
    private readonly changed: () => void,
  ) {}

  /** The count last reported, if any. */
  get last(): number | undefined {
    return this.reported;
  }

  /** The tally can no longer be trusted (a new connection, a change without a UID): the next count comes from STATUS. */
  forget(): void {
    this.tally.forget();
  }

  /** The count once `messages` (just fetched above the watermark) are in, or undefined when STATUS must be asked. */
  add(messages: readonly FetchedFlags[]): number | undefined {
    return this.tally.add(messages);
  }

  /** Asks the server (STATUS UNSEEN UIDNEXT), starts the tally from its answer and reports the count. */
  async ask(client: ImapFlow): Promise<number> {
    const { readStatus, mailbox } = this;
    const status = readStatus ? await readStatus(client, mailbox) : await client.status(mailbox, { unseen: true, uidNext: true });
    const unseen = status && typeof status.unseen === 'number' ? status.unseen : 0;
    if (status && typeof status.unseen === 'number') this.tally.reset(unseen, status.uidNext);
    else this.tally.forget();
    this.report(unseen);
    return unseen;
  }

  /** `unseen` is the count now (from the tally, once its event is stored): reported when it changed. */
  report(unseen: number): void {
    if (unseen === this.reported) return;
    this.reported = unseen;
    this.changed();
  }
}
