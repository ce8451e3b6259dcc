// In-process stand-ins for what Redis pub/sub carries between processes: the live event feed and
// the account control bus and Dovecot's delivery hints. In embedded mode the producer and every listener share one process.

import { EventEmitter } from 'node:events';
import type { BroadcastChannel, HintAddress, HintBus, LiveFeed, MailHint } from '../../core/ports.js';
import { liveEventOf, type LiveEvent } from '../../core/live-event.js';
import type { MailEvent } from '../../core/types.js';

export class MemoryLiveFeed implements LiveFeed {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  /** Called by the event log after an append has been stored. */
  publish(userId: string, event: MailEvent): void {
    if (this.emitter.listenerCount(userId) > 0) this.emitter.emit(userId, liveEventOf(event));
  }

  async subscribe(userId: string, listener: (event: LiveEvent) => void): Promise<() => Promise<void>> {
    this.emitter.on(userId, listener);
    return async () => {
      this.emitter.off(userId, listener);
    };
  }

  onReconnect(): void {
    // nothing to reconnect in one process
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

/** A BroadcastChannel within one process (embedded mode: the control and revocation channels). */
export class MemoryBroadcastChannel<Message> implements BroadcastChannel<Message> {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  async publish(message: Message): Promise<void> {
    // Asynchronously, like a message over the network: the publisher's own request finishes first.
    setImmediate(() => this.emitter.emit('message', message));
  }

  async subscribe(listener: (message: Message) => void): Promise<void> {
    this.emitter.on('message', listener);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

/** Delivery hints within one process: listeners by host and login, like the Redis channels. */
export class MemoryHintBus implements HintBus {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  private static channel(address: HintAddress): string {
    return `${address.host.toLowerCase()}|${address.login}`;
  }

  async publish(hint: MailHint): Promise<number> {
    const channel = MemoryHintBus.channel(hint);
    const reached = this.emitter.listenerCount(channel);
    // Asynchronously, like Redis: the hook's caller is answered before any worker acts.
    if (reached > 0) setImmediate(() => this.emitter.emit(channel, hint));
    return reached;
  }

  async subscribe(address: HintAddress, listener: (hint: MailHint) => void): Promise<() => Promise<void>> {
    const channel = MemoryHintBus.channel(address);
    this.emitter.on(channel, listener);
    return async () => {
      this.emitter.off(channel, listener);
    };
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}
