import type { DeviceRevocation, RevocationBus } from '../../core/ports.js';
import type { RedisKeys } from '../../keys.js';
import type { RedisClient } from './connection.js';

/**
 * Removed devices over pub/sub, on a channel of their own beside the control channel: workers do
 * not listen to it, web processes do. A web process that misses one still refuses the token on
 * its next use; an open stream notices within its next reconnect. Classic pub/sub on a Redis
 * Cluster too: every web process wants every revocation, and they are rare (channels.ts).
 */
export class RedisRevocationBus implements RevocationBus {
  private subscribed = false;

  constructor(private readonly redis: RedisClient, private readonly subscriber: RedisClient, private readonly keys: RedisKeys) {}

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
