// A mailbox of an account other than its home mailbox (INBOX). When the server has NOTIFY it is
// looked at over the home watcher's connection (see notify-folders.ts) and never connects itself;
// without NOTIFY it is started like any MailboxWatcher, on a connection of its own.

import type { ImapFlow } from 'imapflow';
import type { FolderSeen } from '../../imap/notify.js';
import { openMailbox } from '../../imap/lean-imapflow.js';
import { MailboxWatcher } from './mailbox-watcher.js';
import type { WatcherState } from './watcher-options.js';

export class FolderWatcher extends MailboxWatcher {
  /** What the last visit saw: the next STATUS is compared with it. */
  private seen: FolderSeen | undefined;
  /** Why the last visit could not open the folder; shown while the home connection is fine. */
  private openError: string | undefined;

  get lastVisit(): FolderSeen | undefined {
    return this.seen;
  }

  /** The home connection's state is this folder's too (it has no other). */
  follow(home: WatcherState): void {
    const healthy = home === 'idle' || home === 'polling';
    this.setStatus(this.openError && healthy ? { state: 'error', error: this.openError } : { state: home });
  }

  /**
   * Looks at this folder over the home watcher's connection: EXAMINE it, with QRESYNC from the last
   * visit so the server lists flag changes and expunges since then (reported as over a connection
   * of its own), then notifies the mail above the watermark. Runs in the home watcher's queue; the
   * caller selects its mailbox again afterwards.
   */
  async visit(client: ImapFlow, catchUp: boolean, home: WatcherState): Promise<void> {
    if (this.stopped) return;
    const seen = this.seen;
    const mailbox = this.options.mailbox;
    this.client = client;
    this.visiting = true;
    try {
      const opened = await openMailbox(client, mailbox, {
        readOnly: true,
        ...(seen?.highestModseq !== undefined && !catchUp ? { uidValidity: BigInt(seen.uidValidity), changedSince: seen.highestModseq } : {}),
      }).catch((error: { responseStatus?: string; responseText?: string }) => {
        if (error.responseStatus !== 'NO') throw error;
        // Gone or never there: this folder shows the error, the others carry on.
        this.openError = `cannot open "${mailbox}": ${error.responseText ?? 'no such mailbox'}`;
        this.follow(home);
        return undefined;
      });
      if (!opened) return;
      this.openError = undefined;
      this.uidValidity = String(opened.uidValidity);
      if (this.state !== home) this.follow(home);
      const lastUid = this.knownWatermark?.lastUid;
      const arrivals = lastUid === undefined ? 0 : Math.max(0, opened.uidNext - 1 - lastUid);
      // Queued after the flag and expunge reports of the EXAMINE, so their events come first.
      await this.enqueue(() => this.sync(client, catchUp, opened.uidNext, undefined, arrivals));
      await this.queue;
      this.seen = {
        uidValidity: this.uidValidity,
        lastUid: this.knownWatermark?.lastUid ?? opened.uidNext - 1,
        ...(opened.highestModseq ? { highestModseq: opened.highestModseq } : {}),
      };
    } finally {
      this.visiting = false;
      if (this.client === client) this.client = undefined;
    }
  }
}
