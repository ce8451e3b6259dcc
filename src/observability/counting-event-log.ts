import type { AppendRequest, AppendResult, EventLog } from '../core/ports.js';
import type { GatewayMetrics } from './metrics.js';

/** The worker's event log, counting what it appended by type (only appends that succeeded). */
export class CountingEventLog implements EventLog {
  constructor(private readonly inner: EventLog, private readonly metrics: GatewayMetrics) {}

  async append(request: AppendRequest): Promise<AppendResult> {
    const result = await this.inner.append(request);
    if (result.ok) this.metrics.eventsAppendedOf(request.events);
    return result;
  }

  read: EventLog['read'] = (...args) => this.inner.read(...args);
  latestId: EventLog['latestId'] = (...args) => this.inner.latestId(...args);
  isTrimmedAfter: EventLog['isTrimmedAfter'] = (...args) => this.inner.isTrimmedAfter(...args);
  watermark: EventLog['watermark'] = (...args) => this.inner.watermark(...args);
  onWritesMayBeLost: EventLog['onWritesMayBeLost'] = (listener) => this.inner.onWritesMayBeLost?.(listener);
}
