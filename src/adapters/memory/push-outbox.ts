import type { PushOutbox } from '../../core/ports.js';
import type { MailEvent } from '../../core/types.js';

/**
 * The embedded mode's outbox keeps nothing. Its push queue lives in memory (push/memory-queue.ts),
 * so a crash loses every push not yet sent, queued or not; recording the unqueued ones in SQLite
 * would only cover the moment between an append and the in-memory enqueue, and there is no other
 * worker to take over meanwhile. Surviving a crash would take an outbox kept until a push is sent,
 * not until it is queued.
 */
export class TransientPushOutbox implements PushOutbox {
  readonly durable = false;

  async pending(): Promise<MailEvent[]> {
    return [];
  }

  async markQueued(): Promise<void> {}
}
