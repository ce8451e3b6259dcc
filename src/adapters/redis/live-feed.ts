import type { Redis } from 'ioredis';
import { isCatchUpMail, liveEventOf, type LiveEvent } from '../../core/live-event.js';
import type { LiveFeed } from '../../core/ports.js';
import type { EventType, MailEvent, NewEvent } from '../../core/types.js';
import type { RedisKeys } from '../../keys.js';

type Listener = (event: LiveEvent) => void;

/**
 * What the append script publishes before each event's JSON: "<type> <time ms> <catch-up 0|1>",
 * to which the script adds " <id>\n". A web process reads the id and these fields from that one
 * short line and sends the JSON after it untouched, so a live event is never parsed, decoded to a
 * string or serialised again on its way to the sockets.
 */
export function liveHeader(event: NewEvent): string {
  return `${event.type} ${Date.parse(event.time)} ${isCatchUpMail(event) ? 1 : 0}`;
}

/** The other side of liveHeader: undefined for anything that is not such a message. */
export function parseLiveMessage(message: Buffer): LiveEvent | undefined {
  const newline = message.indexOf(10);
  if (newline < 0) return legacyMessage(message);
  const [type, time, catchUp, id] = message.toString('latin1', 0, newline).split(' ');
  if (!type || !time || !id) return undefined;
  // A copy of its own, once per event: the message is a view into the whole chunk ioredis read
  // (up to 64 KiB), and a socket that is slow to drain would otherwise keep a chunk alive for
  // each ~500-byte event it has queued.
  const body = message.subarray(newline + 1);
  const json = Buffer.allocUnsafeSlow(body.length);
  body.copy(json);
  return { id, json, type: type as EventType, time: Number(time), catchUp: catchUp === '1' };
}

/**
 * A worker of an earlier version publishes the bare JSON (which never holds a raw newline): still
 * understood, parsed the slow way, so web processes can be upgraded before workers.
 */
function legacyMessage(message: Buffer): LiveEvent | undefined {
  if (message[0] !== 0x7b) return undefined; // '{'
  try {
    const event = JSON.parse(message.toString()) as MailEvent;
    return typeof event?.id === 'string' && typeof event.type === 'string' && typeof event.time === 'string' ? liveEventOf(event) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Live events over Redis pub/sub: one SUBSCRIBE per user per web process, however many sockets
 * that user has open here, and each message read once for all of them. Pub/sub drops what it
 * could not deliver, so after a reconnect the listeners are told to catch up from the stream.
 */
export class RedisLiveFeed implements LiveFeed {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly reconnectListeners: Array<() => void> = [];
  private connectedOnce = false;

  constructor(private readonly subscriber: Redis, private readonly keys: RedisKeys) {
    // Buffers, not strings: the JSON goes to the sockets as the bytes Redis sent.
    subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => this.dispatch(channel, message));
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
    // Every caller awaits the SUBSCRIBE, even when it was not the first: the reply tells it the
    // channel is live. Redis answers a repeated SUBSCRIBE without side effects.
    await this.subscriber.subscribe(channel);
    return async () => {
      const current = this.listeners.get(channel);
      if (!current) return;
      current.delete(listener);
      if (current.size === 0) {
        this.listeners.delete(channel);
        await this.subscriber.unsubscribe(channel).catch(() => undefined);
      }
    };
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
