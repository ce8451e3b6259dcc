import type { Logger } from 'pino';
import type { DeviceStore, Lease, PushOutbox, PushSubscriptionStore } from '../core/ports.js';
import type { NewEvent } from '../core/types.js';
import type { AccountRef } from '../core/account-ref.js';
import { jobsForEvents, type PushQueue } from './delivery.js';
import { isPushable } from './payload.js';

/** The pushes of one append about to happen; see PushHandoff.prepare. */
export interface PreparedPushes {
  /** Pass as AppendRequest.pushable: the outbox records these as pending in the append itself. */
  readonly pushable: boolean[];
  /** Call once the append succeeded, with its ids: queues the pushes (in the background, see settled()). */
  appended(lease: Lease, ids: string[]): void;
}

/**
 * Takes the worker's pushable events from the push outbox to the push queue. The worker calls it
 * around each append: prepare() before, appended() after a successful one, so a push never
 * announces an event the log does not have; the WebSocket path does not depend on it. In between,
 * a durable outbox holds the pushes as pending, so a worker that dies, or a queue that fails,
 * before the jobs are in leaves them to the account's next holder (recover()).
 */
export class PushHandoff {
  /** Queueing started after appends and not yet finished; see settled(). */
  private readonly queueing = new Set<Promise<void>>();

  constructor(
    private readonly outbox: PushOutbox,
    private readonly queue: PushQueue,
    private readonly subscriptions: PushSubscriptionStore,
    private readonly log: Logger,
    /** Where the devices' quiet hours are read, beside the subscriptions. */
    private readonly devices: Pick<DeviceStore, 'quietHours'>,
  ) {}

  /** The user's subscriptions and its devices' quiet hours, read at once. */
  private recipients(userId: string) {
    return Promise.all([this.subscriptions.list(userId), this.devices.quietHours(userId)]);
  }

  /** Before appending `events`; undefined when none of them is pushable (append them as they are). */
  prepare(userId: string, events: NewEvent[]): PreparedPushes | undefined {
    const pushable = events.map(isPushable);
    if (!pushable.includes(true)) return undefined;
    // Who gets a push is read while the append runs rather than after it: on one connection the
    // two requests share a round trip, which is then not between the new mail and its push.
    const subscribers = this.recipients(userId);
    subscribers.catch(() => undefined); // awaited in appended(), and only when the append succeeded
    return {
      pushable,
      appended: (lease, ids) => {
        if (ids.length === 0) return;
        const appended = events.map((event, i) => ({ ...event, id: ids[i]! }));
        const pending = appended.filter((_, i) => pushable[i]).map((event) => event.id);
        const queued = subscribers
          .then(([subscriptions, quietHours]) => this.queue.enqueue(jobsForEvents(userId, appended, subscriptions, quietHours)))
          .then(() => this.outbox.markQueued(lease, pending))
          .catch((error: unknown) => {
            this.log.error({ userId, err: (error as Error).message, events: appended.length }, 'could not queue push');
          })
          .finally(() => this.queueing.delete(queued));
        this.queueing.add(queued);
      },
    };
  }

  /**
   * Queues the pushes that the account's previous holder left pending (it died between an append
   * and the queue). Called when a worker takes the account, before it appends anything. A push
   * that did reach the queue just before the holder died is sent again: it carries the same
   * notification tag, so the device replaces the first one.
   */
  async recover(ref: AccountRef): Promise<number> {
    const pending = await this.outbox.pending(ref);
    if (pending.length === 0) return 0;
    const [subscriptions, quietHours] = await this.recipients(ref.userId);
    await this.queue.enqueue(jobsForEvents(ref.userId, pending, subscriptions, quietHours));
    await this.outbox.markQueued(ref, pending.map((event) => event.id));
    this.log.info({ userId: ref.userId, accountId: ref.accountId, pushes: pending.length }, 'queued pushes a previous holder left pending');
    return pending.length;
  }

  /**
   * Resolves when every push that an append so far set out to queue is in the queue (or was
   * logged as failed). A stopping process awaits this before it closes the queue: closing first
   * would drop the push of a mail appended in the last moment before shutdown.
   */
  async settled(): Promise<void> {
    await Promise.all(this.queueing);
  }
}
