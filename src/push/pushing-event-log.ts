import type { Logger } from 'pino';
import type { AppendRequest, AppendResult, EventLog, PushSubscriptionStore } from '../core/ports.js';
import { jobsForEvents, type PushQueue } from './delivery.js';
import { isPushable } from './payload.js';

/**
 * The worker's event log: appends as usual, then queues Web Push for what was appended. Queueing
 * happens after the append succeeded, so a push never announces an event the log does not have;
 * the WebSocket path does not depend on it.
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
    const subscribers = request.events.some(isPushable) ? this.subscriptions.list(userId) : undefined;
    subscribers?.catch(() => undefined); // awaited below, and only when the append succeeded
    const result = await this.inner.append(request);
    if (result.ok && result.ids.length && subscribers) {
      const events = request.events.map((event, i) => ({ ...event, id: result.ids[i]! }));
      const queued = subscribers
        .then((subscriptions) => this.queue.enqueue(jobsForEvents(userId, events, subscriptions)))
        .catch((error: unknown) => {
          this.log.error({ userId, err: (error as Error).message, events: events.length }, 'could not queue push');
        })
        .finally(() => this.queueing.delete(queued));
      this.queueing.add(queued);
    }
    return result;
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
