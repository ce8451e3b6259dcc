// Which pub/sub a channel uses.
//
// Per-user live channels and per-mailbox hint channels have one publisher and few subscribers
// each, and many of them: on a Redis Cluster they are sharded channels (SPUBLISH / SSUBSCRIBE,
// Redis 7), which stay on the shard that owns the channel's slot. A live channel carries the user's
// hash tag, so the append script's SPUBLISH is in the slot of the keys it writes. Classic PUBLISH
// on a cluster is copied to every node over the cluster bus: fine for the few gateway-wide control
// channels (account changes, device revocations) that every process wants anyway and that carry a
// handful of messages a minute, ruinous for every mail of every user.
//
// On one Redis the classic kind stays, so nothing changes there (and Redis 6 keeps working).

import { isCluster, type RedisClient } from './connection.js';

export interface FanoutChannels {
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  /** Every message of every channel subscribed through this object, as the bytes Redis sent. */
  onMessage(listener: (channel: Buffer, message: Buffer) => void): void;
}

/** Sharded channels on a cluster, classic ones on one Redis, over the given subscriber connection. */
export function fanoutChannels(subscriber: RedisClient): FanoutChannels {
  if (isCluster(subscriber)) {
    return {
      subscribe: (channel) => subscriber.ssubscribe(channel),
      unsubscribe: (channel) => subscriber.sunsubscribe(channel),
      onMessage: (listener) => subscriber.on('smessageBuffer', listener),
    };
  }
  const send = coalesced((command, channels) => (command === 'subscribe' ? subscriber.subscribe(...channels) : subscriber.unsubscribe(...channels)));
  return {
    subscribe: (channel) => send('subscribe', channel),
    unsubscribe: (channel) => send('unsubscribe', channel),
    onMessage: (listener) => subscriber.on('messageBuffer', listener),
  };
}

/** Channels named in one SUBSCRIBE or UNSUBSCRIBE at most. */
export const CHANNELS_PER_COMMAND = 1000;

type Subscription = 'subscribe' | 'unsubscribe';

/**
 * Subscriptions asked for in one turn of the event loop go out as one command per run of the same
 * kind, in the order asked (so an unsubscribe right after a subscribe still wins). A worker
 * starting accounts by the batch subscribes to their command channels together: one write, where
 * ioredis writes each SUBSCRIBE to the socket by itself. Classic channels only: on a cluster the
 * channels of one SSUBSCRIBE must share a slot.
 */
function coalesced(send: (command: Subscription, channels: string[]) => Promise<unknown>): (command: Subscription, channel: string) => Promise<unknown> {
  // Everything asked for in this turn waits for `turn`; its callbacks run in the order attached,
  // so the runs go out in the order asked.
  let turn: Promise<void> | undefined;
  let last: { command: Subscription; channels: string[]; sent: Promise<unknown> } | undefined;
  return (command, channel) => {
    if (!turn) {
      turn = new Promise<void>((resolve) => process.nextTick(resolve));
      // Attached first, so a subscription asked for while the runs are sent starts a turn of its own.
      void turn.then(() => (turn = last = undefined));
    }
    if (!last || last.command !== command || last.channels.length >= CHANNELS_PER_COMMAND) {
      const channels: string[] = [];
      last = { command, channels, sent: turn.then(() => send(command, channels)) };
    }
    last.channels.push(channel);
    return last.sent;
  };
}

/** Publishes on a channel of the kind fanoutChannels subscribes to; resolves to the receiver count. */
export async function publishFanout(redis: RedisClient, channel: string, message: string): Promise<number> {
  return Number(isCluster(redis) ? await redis.spublish(channel, message) : await redis.publish(channel, message));
}
