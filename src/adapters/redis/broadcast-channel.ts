import type { AccountChange, BroadcastChannel, ControlMessage, DeviceRevocation, RebalanceRequest } from '../../core/ports.js';
import type { RedisClient } from './connection.js';

/**
 * A BroadcastChannel over classic pub/sub, which on a Redis Cluster reaches every node: right for
 * the channels every process wants and that carry a few messages a minute (account changes for
 * workers, device removals for web processes; channels.ts says why per-user channels differ).
 * A listener that misses a message learns it another way, so nothing here retries.
 */
export class RedisBroadcastChannel<Message> implements BroadcastChannel<Message> {
  private subscribed = false;

  /** `accept` checks a message's shape; one that fails it, or is not JSON, is ignored. */
  constructor(
    private readonly redis: RedisClient,
    private readonly subscriber: RedisClient,
    private readonly channel: string,
    private readonly accept: (message: unknown) => message is Message,
  ) {}

  async publish(message: Message): Promise<void> {
    await this.redis.publish(this.channel, JSON.stringify(message));
  }

  async subscribe(listener: (message: Message) => void): Promise<void> {
    this.subscriber.on('message', (from: string, text: string) => {
      if (from !== this.channel) return;
      let message: unknown;
      try {
        message = JSON.parse(text);
      } catch {
        return;
      }
      if (this.accept(message)) listener(message);
    });
    if (!this.subscribed) {
      this.subscribed = true;
      await this.subscriber.subscribe(this.channel);
    }
  }

  async close(): Promise<void> {
    if (this.subscribed) await this.subscriber.unsubscribe(this.channel).catch(() => undefined);
  }
}

/** A message on the control channel: an account change or a rebalance request. */
export function isControlMessage(message: unknown): message is ControlMessage {
  if (typeof message !== 'object' || message === null) return false;
  const { kind } = message as { kind?: unknown };
  return kind === 'rebalance' ? typeof (message as RebalanceRequest).from === 'string'
    : (kind === 'created' || kind === 'updated' || kind === 'deleted') && typeof (message as AccountChange).accountId === 'string' && typeof (message as AccountChange).userId === 'string';
}

/** A message on the revocation channel. */
export function isDeviceRevocation(message: unknown): message is DeviceRevocation {
  return typeof message === 'object' && message !== null && typeof (message as DeviceRevocation).userId === 'string';
}
