// A mailbox's unread count, kept by one IMAP connection so that new mail does not cost a STATUS
// round trip (about 0.7 ms here, and tens of ms when the server is busy) before it is notified.
//
// STATUS (UNSEEN UIDNEXT) gives a count together with the UIDs it covers: everything below its
// UIDNEXT. New mail at or above that UID adds itself, by the \Seen flag that the same UID FETCH
// brings. Everything else that changes the count (flags set elsewhere, expunges) reaches the
// connection as FETCH and EXPUNGE responses, and the watcher asks STATUS again for those, so the
// count is never staler than one the server gave. Counting by UID rather than "+1 per EXISTS" is
// what keeps a STATUS that already saw a new mail (it ran between the delivery and our fetch) from
// counting that mail twice.

export interface FetchedFlags {
  uid: number;
  seen: boolean;
}

export class UnseenTally {
  private base: { count: number; uidNext: number } | undefined;

  /** The last known count, if any. */
  get count(): number | undefined {
    return this.base?.count;
  }

  /** What the server said: `count` unseen among the messages below `uidNext`. */
  reset(count: number, uidNext: number | undefined): void {
    this.base = uidNext !== undefined && Number.isInteger(uidNext) && uidNext > 0 ? { count, uidNext } : undefined;
  }

  /** The count can no longer be trusted (a new connection, a change without a UID). */
  forget(): void {
    this.base = undefined;
  }

  /**
   * The count once `messages` (just fetched above the watermark) are in, or undefined when there
   * is no count to start from and STATUS must be asked.
   */
  add(messages: readonly FetchedFlags[]): number | undefined {
    const base = this.base;
    if (!base) return undefined;
    let { count, uidNext } = base;
    for (const message of messages) {
      if (message.uid < base.uidNext) continue; // the STATUS this count came from saw it already
      if (!message.seen) count++;
      uidNext = Math.max(uidNext, message.uid + 1);
    }
    this.base = { count, uidNext };
    return count;
  }
}
