// Following Dovecot's delivery hints for one mailbox watcher. A hint says "UID n arrived"; the
// watcher then fetches above its watermark, exactly as after an EXISTS. Dovecot sends the hint
// during the delivery, a few milliseconds before the message is visible to other IMAP sessions
// (measured: a fetch at once finds nothing, 5 ms later it does), so when a fetch has not reached
// the hinted UID yet it is tried again shortly, a bounded number of times. After that the hint is
// dropped: a forged UID costs a few fetches and nothing more, and IDLE still announces real mail.

/** Waits before each further fetch for a hinted UID not yet visible (75 ms in all). */
export const HINT_RETRY_DELAYS_MS = [5, 10, 20, 40] as const;

interface PendingHint {
  uid: number;
  /** When the first hint still pending reached the hook, for hint → mail.new timing. */
  receivedAt: number;
  attempts: number;
}

export class HintFollower {
  private pending: PendingHint | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    /** Queues a fetch above the watermark (coalesced with any already queued). */
    private readonly fetchAgain: () => void,
    /** The hinted UID is notified now; called once per followed hint. */
    private readonly reached: (receivedAt: number) => void,
  ) {}

  /** Remembers a hint for `uid` (a later, higher one extends it and gets fresh retries). */
  expect(uid: number, receivedAt: number): void {
    const pending = this.pending;
    if (!pending) this.pending = { uid, receivedAt, attempts: 0 };
    else if (uid > pending.uid) this.pending = { uid, receivedAt: pending.receivedAt, attempts: 0 };
  }

  /** After a fetch: the watermark now stands at `lastUid`. */
  synced(lastUid: number | undefined): void {
    const pending = this.pending;
    if (!pending) return;
    if (lastUid !== undefined && lastUid >= pending.uid) {
      this.forget();
      this.reached(pending.receivedAt);
      return;
    }
    if (this.timer) return; // a retry is already on its way
    const delay = HINT_RETRY_DELAYS_MS[pending.attempts++];
    if (delay === undefined) {
      this.forget(); // not there after all: IDLE has the last word
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.fetchAgain();
    }, delay);
  }

  /** Drops what is pending: the connection ended, or the watcher stops. */
  forget(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }
}
