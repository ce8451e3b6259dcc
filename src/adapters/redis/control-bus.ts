import type { Redis } from 'ioredis';
import type { ControlBus, ControlMessage } from '../../core/ports.js';
import type { RedisKeys } from '../../keys.js';

/** Account changes over pub/sub. A worker that misses one still finds the change on its next scan. */
export class RedisControlBus implements ControlBus {
  private subscribed = false;

  constructor(private readonly redis: Redis, private readonly subscriber: Redis, private readonly keys: RedisKeys) {}

  async publish(message: ControlMessage): Promise<void> {
    await this.redis.publish(this.keys.controlChannel(), JSON.stringify(message));
  }

  async subscribe(listener: (message: ControlMessage) => void): Promise<void> {
    const channel = this.keys.controlChannel();
    this.subscriber.on('message', (from: string, message: string) => {
      if (from !== channel) return;
      try {
        listener(JSON.parse(message) as ControlMessage);
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
