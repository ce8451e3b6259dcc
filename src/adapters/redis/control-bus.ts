import type { ControlBus, ControlMessage } from '../../core/ports.js';
import type { RedisKeys } from '../../keys.js';
import type { RedisClient } from './connection.js';

/**
 * Account changes over pub/sub. A worker that misses one still finds the change on its next scan.
 * Classic pub/sub also on a Redis Cluster, where it reaches every node: every worker wants every
 * account change, and they come a few a minute (channels.ts says why per-user channels differ).
 */
export class RedisControlBus implements ControlBus {
  private subscribed = false;

  constructor(private readonly redis: RedisClient, private readonly subscriber: RedisClient, private readonly keys: RedisKeys) {}

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
