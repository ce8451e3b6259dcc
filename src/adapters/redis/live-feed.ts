import type { LiveEvent } from '../../core/live-event.js';
import type { LiveFeed } from '../../core/ports.js';
import type { RedisKeys } from '../../keys.js';
import { fanoutChannels, type FanoutChannels } from './channels.js';
import { isCluster, type RedisClient } from './connection.js';
import { parseLiveMessage } from './live-wire.js';

type Listener = (event: LiveEvent) => void;

/**
 * Live events over Redis pub/sub: one SUBSCRIBE per user per web process, however many sockets
 * that user has open here, and each message read once for all of them (on a Redis Cluster an
 * SSUBSCRIBE to the shard that owns the user: channels.ts). Pub/sub drops what it could not
 * deliver, so after a reconnect the listeners are told to catch up from the stream.
 */
export class RedisLiveFeed implements LiveFeed {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly reconnectListeners: Array<() => void> = [];
  private connectedOnce = false;
  private readonly channels: FanoutChannels;

  constructor(subscriber: RedisClient, private readonly keys: RedisKeys) {
    this.channels = fanoutChannels(subscriber);
    // Buffers, not strings: the JSON goes to the sockets as the bytes Redis sent.
    this.channels.onMessage((channel, message) => this.dispatch(channel, message));
    if (isCluster(subscriber)) {
      // A cluster's sharded subscribers (one per primary) are replaced when the topology changes,
      // a failover for one, and re-issue their SSUBSCRIBEs; whatever was published meanwhile is
      // caught up from the stream (a catch-up that finds nothing new costs one XRANGE).
      // ioredis announces the new subscribers before their SSUBSCRIBE replies are in (they may not
      // even be connected yet), so the catch-up waits for SSUBSCRIBEs of our own: each reply says
      // its channel is live on the new primary, and a read started after all of them cannot miss
      // an event that the live feed will not deliver.
      subscriber.on('subscribersReady', () => {
        if (!this.connectedOnce) {
          this.connectedOnce = true;
          return;
        }
        const resubscribed = Promise.all([...this.listeners.keys()].map((channel) => this.channels.subscribe(channel)));
        // Caught up even when an SSUBSCRIBE failed (the topology still moving): what the log holds
        // now reaches the sockets, and the next topology change subscribes again.
        void resubscribed.catch(() => undefined).then(() => this.reconnectListeners.forEach((listener) => listener()));
      });
      return;
    }
    subscriber.on('ready', () => {
      if (!this.connectedOnce) {
        this.connectedOnce = true;
        return;
      }
      // ioredis re-sends SUBSCRIBE after 'ready'; a PING queued behind it answers only once the
      // subscriptions are active again, so a catch-up read started then cannot miss anything.
      subscriber.ping().then(
        () => this.reconnectListeners.forEach((listener) => listener()),
        () => undefined,
      );
    });
    if (subscriber.status === 'ready') this.connectedOnce = true;
  }

  async subscribe(userId: string, listener: Listener): Promise<() => Promise<void>> {
    const channel = this.keys.liveChannel(userId);
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
    }
    set.add(listener);
    const unsubscribe = async (): Promise<void> => {
      const current = this.listeners.get(channel);
      if (!current?.delete(listener)) return;
      if (current.size === 0) {
        this.listeners.delete(channel);
        // Commands go out in order: a SUBSCRIBE for the same channel issued after this one wins.
        await this.channels.unsubscribe(channel).catch(() => undefined);
      }
    };
    // Every caller awaits the SUBSCRIBE, even when it was not the first: the reply tells it the
    // channel is live. Redis answers a repeated SUBSCRIBE without side effects.
    try {
      await this.channels.subscribe(channel);
    } catch (error) {
      // The caller gets no unsubscribe to call: take the listener (and, if last, the channel) back here.
      await unsubscribe();
      throw error;
    }
    return unsubscribe;
  }

  onReconnect(listener: () => void): void {
    this.reconnectListeners.push(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }

  private dispatch(channel: Buffer, message: Buffer): void {
    const set = this.listeners.get(channel.toString());
    if (!set || set.size === 0) return;
    const event = parseLiveMessage(message);
    if (!event) return;
    for (const listener of set) listener(event);
  }
}
