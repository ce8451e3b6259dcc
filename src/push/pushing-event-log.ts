import type { Logger } from 'pino';
import type { AppendRequest, AppendResult, EventLog } from '../core/ports.js';
import type { PushQueue } from './delivery.js';

/**
 * The worker's event log: appends as usual, then queues Web Push for what was appended. Queueing
 * happens after the append succeeded, so a push never announces an event the log does not have;
 * the WebSocket path does not depend on it.
 */
export class PushingEventLog implements EventLog {
  constructor(private readonly inner: EventLog, private readonly queue: PushQueue, private readonly log: Logger) {}

  async append(request: AppendRequest): Promise<AppendResult> {
    const result = await this.inner.append(request);
    if (result.ok && result.ids.length) {
      const events = request.events.map((event, i) => ({ ...event, id: result.ids[i]! }));
      this.queue.enqueueEvents(request.lease.userId, events).catch((error: unknown) => {
        this.log.error({ userId: request.lease.userId, err: (error as Error).message, events: events.length }, 'could not queue push');
      });
    }
    return result;
  }

  read: EventLog['read'] = (...args) => this.inner.read(...args);
  latestId: EventLog['latestId'] = (...args) => this.inner.latestId(...args);
  isTrimmedAfter: EventLog['isTrimmedAfter'] = (...args) => this.inner.isTrimmedAfter(...args);
  watermark: EventLog['watermark'] = (...args) => this.inner.watermark(...args);
}
