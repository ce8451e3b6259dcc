import type { Redis } from 'ioredis';
import type { AccountChange, ControlBus } from '../../core/ports.js';
import type { RedisKeys } from '../../keys.js';

/** Account changes over pub/sub. A worker that misses one still finds the change on its next scan. */
export class RedisControlBus implements ControlBus {
  private subscribed = false;

  constructor(private readonly redis: Redis, private readonly subscriber: Redis, private readonly keys: RedisKeys) {}

  async publish(change: AccountChange): Promise<void> {
    await this.redis.publish(this.keys.controlChannel(), JSON.stringify(change));
  }

  async subscribe(listener: (change: AccountChange) => void): Promise<void> {
    const channel = this.keys.controlChannel();
    this.subscriber.on('message', (from: string, message: string) => {
      if (from !== channel) return;
      try {
        listener(JSON.parse(message) as AccountChange);
      } catch {
        // a malformed control message is ignored; the periodic scan covers it
      }
    });
    if (!this.subscribed) {
      this.subscribed = true;
      await this.subscriber.subscribe(channel);
    }
  }

  async close(): Promise<void> {
    if (this.subscribed) await this.subscriber.unsubscribe(this.keys.controlChannel()).catch(() => undefined);
  }
}
