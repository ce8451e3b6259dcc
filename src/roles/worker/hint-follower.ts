// Following Dovecot's delivery hints for one mailbox watcher. A hint says "UID n arrived"; the
// watcher then fetches above its watermark, exactly as after an EXISTS. Dovecot sends the hint
// during the delivery, a few milliseconds before the message is visible to other IMAP sessions
// (measured: a fetch at once finds nothing, 5 ms later it does), so when a fetch has not reached
// the hinted UID yet it is tried again shortly, a bounded number of times. After that the hint is
// dropped: a forged UID costs a few fetches and nothing more, and IDLE still announces real mail.
//
// With a trace sink (LOG_LEVEL=trace), each followed hint reports when every stage happened, so
// bench:latency can say where the time between Dovecot's POST and the socket goes.

/** Waits before each further fetch for a hinted UID not yet visible (75 ms in all). */
export const HINT_RETRY_DELAYS_MS = [5, 10, 20, 40] as const;

/** Milliseconds since the epoch with sub-millisecond resolution, comparable across processes. */
export const preciseNow = (): number => performance.timeOrigin + performance.now();

/** One fetch above the watermark while a hint was pending (times from preciseNow()). */
export interface TracedFetch {
  start: number;
  /** After the append, when this fetch reached the hinted UID. */
  end: number;
  /** What queued it: the follower's own retry timer, or the hint or an EXISTS. */
  by: 'retry' | 'wake';
  reached: boolean;
}

/** Where the time of one hint went, for `LOG_LEVEL=trace` and bench:latency. */
export interface HintTrace {
  uid: number;
  /** The hook had it (web process). */
  received: number;
  /** This watcher had it. */
  woke: number;
  fetches: TracedFetch[];
  reached: boolean;
}

interface PendingHint {
  uid: number;
  /** When the first hint still pending reached the hook, for hint → mail.new timing. */
  receivedAt: number;
  attempts: number;
  trace?: HintTrace;
}

export class HintFollower {
  private pending: PendingHint | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The retry timer fired and its fetch has not started yet. */
  private retryDue = false;
  private fetchStart: { at: number; by: TracedFetch['by'] } | undefined;

  constructor(
    /** Queues a fetch above the watermark (coalesced with any already queued). */
    private readonly fetchAgain: () => void,
    /** The hinted UID is notified now; called once per followed hint. */
    private readonly reached: (receivedAt: number) => void,
    /** Gets each hint's stage times once it is reached or given up; none: nothing is recorded. */
    private readonly traced?: (trace: HintTrace) => void,
  ) {}

  /** Remembers a hint for `uid` (a later, higher one extends it and gets fresh retries). */
  expect(uid: number, receivedAt: number): void {
    const pending = this.pending;
    if (pending && uid <= pending.uid) return;
    const trace = this.traced ? pending?.trace ?? { uid, received: receivedAt, woke: preciseNow(), fetches: [], reached: false } : undefined;
    if (trace) trace.uid = uid;
    this.pending = { uid, receivedAt: pending?.receivedAt ?? receivedAt, attempts: 0, ...(trace ? { trace } : {}) };
  }

  /** A fetch above the watermark starts (only timed while a hint is pending and traced). */
  fetching(): void {
    if (this.pending?.trace) this.fetchStart = { at: preciseNow(), by: this.retryDue ? 'retry' : 'wake' };
    this.retryDue = false;
  }

  /** After a fetch: the watermark now stands at `lastUid`. */
  synced(lastUid: number | undefined): void {
    const pending = this.pending;
    if (!pending) return;
    const hit = lastUid !== undefined && lastUid >= pending.uid;
    if (pending.trace && this.fetchStart) pending.trace.fetches.push({ start: this.fetchStart.at, end: preciseNow(), by: this.fetchStart.by, reached: hit });
    this.fetchStart = undefined;
    if (hit) {
      this.forget();
      this.finish(pending, true);
      this.reached(pending.receivedAt);
      return;
    }
    if (this.timer) return; // a retry is already on its way
    const delay = HINT_RETRY_DELAYS_MS[pending.attempts++];
    if (delay === undefined) {
      this.forget(); // not there after all: IDLE has the last word
      this.finish(pending, false);
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.retryDue = true;
      this.fetchAgain();
    }, delay);
  }

  /** Drops what is pending: the connection ended, or the watcher stops. */
  forget(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.retryDue = false;
    this.fetchStart = undefined;
    this.pending = undefined;
  }

  private finish(pending: PendingHint, reached: boolean): void {
    if (!pending.trace || !this.traced) return;
    pending.trace.reached = reached;
    this.traced(pending.trace);
  }
}
