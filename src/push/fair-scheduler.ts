// The embedded queue's order of sending: one lane per user, taken in turn (round robin), each
// lane first in, first out, and a push only started when SendLimits allows it (so a user over
// their in-flight cap, or a push service over its cap, is skipped, not waited for). A user with a
// thousand pushes waiting therefore delays another user's next push by at most one turn.
//
// Bounded: at most `maxQueued` pushes wait (ready or delayed for a retry). One more drops the
// oldest push of the user with the most waiting: whoever fills the queue pays for it, and a user
// with one new mail is not dropped because someone else has ten thousand. Pure bookkeeping, no
// timers or I/O, so the unit tests drive it directly.

import { SendLimits } from './send-limits.js';

export interface Scheduled<T> {
  readonly item: T;
  readonly userId: string;
  readonly origin: string;
  /** Enqueue order; the lowest is the oldest. */
  readonly seq: number;
}

interface Lane<T> {
  ready: Array<Scheduled<T>>;
  /** Waiting for a retry's delay to pass (see wake()). */
  delayed: Set<Scheduled<T>>;
}

export class FairScheduler<T> {
  private readonly lanes = new Map<string, Lane<T>>();
  /** Users with ready pushes, in turn order; `cursor` is whose turn it is. */
  private ring: string[] = [];
  private cursor = 0;
  private queued = 0;
  private seq = 0;

  constructor(private readonly limits: SendLimits, private readonly maxQueued: number) {}

  /** Pushes waiting, ready or delayed. */
  get size(): number {
    return this.queued;
  }

  /**
   * Queues a ready push (`delayed`: one waiting for a retry, made ready by wake()). Returns what
   * had to be dropped to stay within the bound, possibly the new push itself.
   */
  add(item: T, userId: string, origin: string, options: { delayed?: boolean } = {}): { entry: Scheduled<T>; dropped: Array<Scheduled<T>> } {
    const dropped: Array<Scheduled<T>> = [];
    const entry: Scheduled<T> = { item, userId, origin, seq: this.seq++ };
    const lane = this.lane(userId);
    if (options.delayed) lane.delayed.add(entry);
    else this.makeReady(lane, entry);
    this.queued++;
    while (this.queued > this.maxQueued) dropped.push(this.dropOldestOfGreediest());
    return { entry, dropped };
  }

  /** A delayed push's time has come; false when it was dropped meanwhile. */
  wake(entry: Scheduled<T>): boolean {
    const lane = this.lanes.get(entry.userId);
    if (!lane?.delayed.delete(entry)) return false;
    this.makeReady(lane, entry);
    return true;
  }

  /** The next push to send, its slot already taken (call `release` when it is done), or undefined. */
  next(): { entry: Scheduled<T>; release: () => void } | undefined {
    if (!this.limits.hasRoom()) return undefined;
    for (let turn = 0; turn < this.ring.length; turn++) {
      const index = (this.cursor + turn) % this.ring.length;
      const userId = this.ring[index]!;
      const lane = this.lanes.get(userId)!;
      const at = lane.ready.findIndex((entry) => this.limits.allows(userId, entry.origin));
      if (at < 0) continue;
      const [entry] = lane.ready.splice(at, 1) as [Scheduled<T>];
      const release = this.limits.tryStart(userId, entry.origin)!;
      this.queued--;
      if (lane.ready.length === 0) {
        this.ring.splice(index, 1);
        this.cursor = this.ring.length ? index % this.ring.length : 0;
      } else {
        this.cursor = (index + 1) % this.ring.length;
      }
      this.forgetIfEmpty(userId, lane);
      return { entry, release };
    }
    return undefined;
  }

  /** Every waiting push, ready and delayed (for close()). */
  drain(): Array<Scheduled<T>> {
    const all = [...this.lanes.values()].flatMap((lane) => [...lane.ready, ...lane.delayed]);
    this.lanes.clear();
    this.ring = [];
    this.cursor = 0;
    this.queued = 0;
    return all;
  }

  private lane(userId: string): Lane<T> {
    let lane = this.lanes.get(userId);
    if (!lane) {
      lane = { ready: [], delayed: new Set() };
      this.lanes.set(userId, lane);
    }
    return lane;
  }

  private makeReady(lane: Lane<T>, entry: Scheduled<T>): void {
    // A user joining the ring goes last in the current round: no one is overtaken.
    if (lane.ready.length === 0) {
      this.ring.splice(this.cursor, 0, entry.userId);
      this.cursor = (this.cursor + 1) % this.ring.length;
    }
    lane.ready.push(entry);
  }

  private dropOldestOfGreediest(): Scheduled<T> {
    let greediest: [string, Lane<T>] | undefined;
    for (const pair of this.lanes) {
      const size = pair[1].ready.length + pair[1].delayed.size;
      if (!greediest || size > greediest[1].ready.length + greediest[1].delayed.size) greediest = pair;
    }
    const [userId, lane] = greediest!;
    let oldest: Scheduled<T> | undefined = lane.ready[0];
    for (const entry of lane.delayed) if (!oldest || entry.seq < oldest.seq) oldest = entry;
    if (lane.delayed.delete(oldest!)) {
      // a delayed push: its timer finds nothing to wake
    } else {
      lane.ready.shift();
      if (lane.ready.length === 0) this.leaveRing(userId);
    }
    this.queued--;
    this.forgetIfEmpty(userId, lane);
    return oldest!;
  }

  private leaveRing(userId: string): void {
    const index = this.ring.indexOf(userId);
    if (index < 0) return;
    this.ring.splice(index, 1);
    if (index < this.cursor) this.cursor--;
    if (this.cursor >= this.ring.length) this.cursor = 0;
  }

  private forgetIfEmpty(userId: string, lane: Lane<T>): void {
    if (lane.ready.length === 0 && lane.delayed.size === 0) this.lanes.delete(userId);
  }
}
