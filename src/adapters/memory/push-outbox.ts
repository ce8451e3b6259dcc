import type { PushOutbox } from '../../core/ports.js';
import type { MailEvent } from '../../core/types.js';

/**
 * The embedded mode's outbox keeps nothing. Its push queue lives in memory (push/memory-queue.ts),
 * so a crash loses every push not yet sent, queued or not; recording the unqueued ones in SQLite
 * would only cover the microseconds between an append and the in-memory enqueue, and on restart
 * the worker claims accounts before the web part starts the queue, so recovered pushes would have
 * nowhere to go. Surviving a crash would take an outbox kept until sent, not until queued.
 */
export class TransientPushOutbox implements PushOutbox {
  readonly durable = false;

  async pending(): Promise<MailEvent[]> {
    return [];
  }

  async markQueued(): Promise<void> {}
}
