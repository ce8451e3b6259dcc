import type { Redis } from 'ioredis';
import type { DeviceRevocation, RevocationBus } from '../../core/ports.js';
import type { RedisKeys } from '../../keys.js';

/**
 * Removed devices over pub/sub, on a channel of their own beside the control channel: workers do
 * not listen to it, web processes do. A web process that misses one still refuses the token on
 * its next use; an open stream notices within its next reconnect.
 */
export class RedisRevocationBus implements RevocationBus {
  private subscribed = false;

  constructor(private readonly redis: Redis, private readonly subscriber: Redis, private readonly keys: RedisKeys) {}

  async publish(revocation: DeviceRevocation): Promise<void> {
    await this.redis.publish(this.keys.revocationChannel(), JSON.stringify(revocation));
  }

  async subscribe(listener: (revocation: DeviceRevocation) => void): Promise<void> {
    const channel = this.keys.revocationChannel();
    this.subscriber.on('message', (from: string, message: string) => {
      if (from !== channel) return;
      try {
        const revocation = JSON.parse(message) as DeviceRevocation;
        if (typeof revocation?.userId === 'string') listener(revocation);
      } catch {
        // a malformed message is ignored
      }
    });
    if (!this.subscribed) {
      this.subscribed = true;
      await this.subscriber.subscribe(channel);
    }
  }

  async close(): Promise<void> {
    if (this.subscribed) await this.subscriber.unsubscribe(this.keys.revocationChannel()).catch(() => undefined);
  }
}
