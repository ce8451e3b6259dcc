import type { Logger } from 'pino';
import type { AppendRequest, AppendResult, EventLog, PushSubscriptionStore } from '../core/ports.js';
import type { AccountRef } from '../core/account-ref.js';
import { jobsForEvents, type PushQueue } from './delivery.js';
import { isPushable } from './payload.js';

/**
 * The worker's event log: appends as usual, then queues Web Push for what was appended. Queueing
 * happens after the append succeeded, so a push never announces an event the log does not have;
 * the WebSocket path does not depend on it. In between, the log holds the push as pending (where it
 * can: Redis), so a worker that dies, or a queue that fails, before the job is in leaves it to the
 * account's next holder (recoverPushes).
 */
export class PushingEventLog implements EventLog {
  /** Queueing started by appends and not yet finished; see settled(). */
  private readonly queueing = new Set<Promise<void>>();

  constructor(
    private readonly inner: EventLog,
    private readonly queue: PushQueue,
    private readonly subscriptions: PushSubscriptionStore,
    private readonly log: Logger,
  ) {}

  async append(request: AppendRequest): Promise<AppendResult> {
    const { userId } = request.lease;
    // Who gets a push is read while the append runs rather than after it: on one connection the
    // two requests share a round trip, which is then not between the new mail and its push.
    const pushable = request.events.map(isPushable);
    const subscribers = pushable.includes(true) ? this.subscriptions.list(userId) : undefined;
    subscribers?.catch(() => undefined); // awaited below, and only when the append succeeded
    // The log records these pushes as pending in the append itself, until they are queued below.
    const result = await this.inner.append(subscribers ? { ...request, pushable } : request);
    if (result.ok && result.ids.length && subscribers) {
      const events = request.events.map((event, i) => ({ ...event, id: result.ids[i]! }));
      const pending = events.filter((_, i) => pushable[i]).map((event) => event.id);
      const queued = subscribers
        .then((subscriptions) => this.queue.enqueue(jobsForEvents(userId, events, subscriptions)))
        .then(() => this.inner.pushesQueued?.(request.lease, pending))
        .catch((error: unknown) => {
          this.log.error({ userId, err: (error as Error).message, events: events.length }, 'could not queue push');
        })
        .finally(() => this.queueing.delete(queued));
      this.queueing.add(queued);
    }
    return result;
  }

  /**
   * Queues the pushes that the account's previous holder recorded as pending but did not queue
   * (it died between the append and the queue). Called when a worker takes the account, before it
   * appends anything. A push that did reach the queue just before the holder died is sent again:
   * it carries the same notification tag, so the device replaces the first one.
   */
  async recoverPushes(ref: AccountRef): Promise<number> {
    const pending = (await this.inner.pendingPushes?.(ref)) ?? [];
    if (pending.length === 0) return 0;
    const subscriptions = await this.subscriptions.list(ref.userId);
    await this.queue.enqueue(jobsForEvents(ref.userId, pending, subscriptions));
    await this.inner.pushesQueued?.(ref, pending.map((event) => event.id));
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

  read: EventLog['read'] = (...args) => this.inner.read(...args);
  latestId: EventLog['latestId'] = (...args) => this.inner.latestId(...args);
  isTrimmedAfter: EventLog['isTrimmedAfter'] = (...args) => this.inner.isTrimmedAfter(...args);
  watermark: EventLog['watermark'] = (...args) => this.inner.watermark(...args);
}
