// In-process stand-ins for what Redis pub/sub carries between processes: the live event feed and
// the account control bus. In embedded mode the producer and every listener share one process.

import { EventEmitter } from 'node:events';
import type { ControlBus, ControlMessage, DeviceRevocation, LiveFeed, RevocationBus } from '../../core/ports.js';
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

export class MemoryControlBus implements ControlBus {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  async publish(message: ControlMessage): Promise<void> {
    // Asynchronously, like a message over the network: the publisher's own request finishes first.
    setImmediate(() => this.emitter.emit('message', message));
  }

  async subscribe(listener: (message: ControlMessage) => void): Promise<void> {
    this.emitter.on('message', listener);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

export class MemoryRevocationBus implements RevocationBus {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  async publish(revocation: DeviceRevocation): Promise<void> {
    setImmediate(() => this.emitter.emit('revocation', revocation));
  }

  async subscribe(listener: (revocation: DeviceRevocation) => void): Promise<void> {
    this.emitter.on('revocation', listener);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}
