import type { Redis } from 'ioredis';
import type { HintAddress, HintBus, MailHint } from '../../core/ports.js';
import type { RedisKeys } from '../../keys.js';

type Listener = (hint: MailHint) => void;

/**
 * Dovecot's delivery hints over Redis pub/sub, one channel per IMAP host and login. A worker
 * subscribes to the channels of the accounts it holds, so a hint goes to the lease holder and
 * nowhere else, and PUBLISH's reply (how many subscribers got it) tells the web process whether
 * anyone holds such an account. A lost hint costs nothing: IDLE still announces the mail.
 * (On Redis Cluster, PUBLISH counts the receiving node's subscribers only.)
 */
export class RedisHintBus implements HintBus {
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(private readonly redis: Redis, private readonly subscriber: Redis, private readonly keys: RedisKeys) {
    subscriber.on('message', (channel: string, message: string) => this.dispatch(channel, message));
  }

  async publish(hint: MailHint): Promise<number> {
    return this.redis.publish(this.keys.hintChannel(hint.host, hint.login), JSON.stringify(hint));
  }

  async subscribe(address: HintAddress, listener: Listener): Promise<() => Promise<void>> {
    const channel = this.keys.hintChannel(address.host, address.login);
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
    }
    set.add(listener);
    await this.subscriber.subscribe(channel);
    return async () => {
      const current = this.listeners.get(channel);
      if (!current?.delete(listener) || current.size > 0) return;
      this.listeners.delete(channel);
      await this.subscriber.unsubscribe(channel).catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }

  private dispatch(channel: string, message: string): void {
    const set = this.listeners.get(channel);
    if (!set) return;
    let hint: MailHint;
    try {
      hint = JSON.parse(message) as MailHint;
    } catch {
      return; // not ours to fail on: a hint only ever saves waiting for IDLE
    }
    for (const listener of set) listener(hint);
  }
}
