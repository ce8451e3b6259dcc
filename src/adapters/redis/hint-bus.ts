import type { HintAddress, HintBus, MailHint } from '../../core/ports.js';
import type { RedisKeys } from '../../keys.js';
import { fanoutChannels, publishFanout, type FanoutChannels } from './channels.js';
import type { RedisClient } from './connection.js';

type Listener = (hint: MailHint) => void;

/**
 * Dovecot's delivery hints over Redis pub/sub, one channel per IMAP host and login. A worker
 * subscribes to the channels of the accounts it holds, so a hint goes to the lease holder and
 * nowhere else, and PUBLISH's reply (how many subscribers got it) tells the web process whether
 * anyone holds such an account. A lost hint costs nothing: IDLE still announces the mail.
 * On a Redis Cluster these are sharded channels (channels.ts): a hint stays on the shard that owns
 * its channel, and SPUBLISH's count is exact there (classic PUBLISH would count the receiving
 * node's subscribers only).
 */
export class RedisHintBus implements HintBus {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly channels: FanoutChannels;

  constructor(private readonly redis: RedisClient, subscriber: RedisClient, private readonly keys: RedisKeys) {
    this.channels = fanoutChannels(subscriber);
    this.channels.onMessage((channel, message) => this.dispatch(channel.toString(), message.toString()));
  }

  async publish(hint: MailHint): Promise<number> {
    return publishFanout(this.redis, this.keys.hintChannel(hint.host, hint.login), JSON.stringify(hint));
  }

  async subscribe(address: HintAddress, listener: Listener): Promise<() => Promise<void>> {
    const channel = this.keys.hintChannel(address.host, address.login);
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
    }
    set.add(listener);
    await this.channels.subscribe(channel);
    return async () => {
      const current = this.listeners.get(channel);
      if (!current?.delete(listener) || current.size > 0) return;
      this.listeners.delete(channel);
      await this.channels.unsubscribe(channel).catch(() => undefined);
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
