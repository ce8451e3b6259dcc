import type { RedisClient } from './connection.js';
import type { PushOutbox } from '../../core/ports.js';
import type { MailEvent } from '../../core/types.js';
import type { AccountRef } from '../../core/account-ref.js';
import type { RedisKeys } from '../../keys.js';
import { entryToEvent } from './event-log.js';

/**
 * The push outbox beside the event stream: a sorted set per user of "<accountId>/<eventId>",
 * scored by the event's time, that the append script (appendEvents-5) fills in the same step as
 * the events, and that drops entries older than retention as it trims.
 */
export class RedisPushOutbox implements PushOutbox {
  readonly durable = true;

  constructor(private readonly redis: RedisClient, private readonly keys: RedisKeys) {}

  async pending(ref: AccountRef): Promise<MailEvent[]> {
    const prefix = `${ref.accountId}/`;
    // '-1' as a string: ioredis 6's types accept only strings for ZRANGE's stop (the command is the same).
    const members = await this.redis.zrange(this.keys.pendingPushes(ref.userId), 0, '-1');
    const ids = members.filter((member) => member.startsWith(prefix)).map((member) => member.slice(prefix.length));
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.xrange(this.keys.events(ref.userId), id, id);
    const replies = (await pipeline.exec()) ?? [];
    const events: MailEvent[] = [];
    const gone: string[] = [];
    replies.forEach(([error, entries], i) => {
      if (error) throw error;
      const [entry] = entries as Array<[string, string[]]>;
      const event = entry && entryToEvent(entry[0], entry[1]);
      if (event) events.push(event);
      else gone.push(ids[i]!); // trimmed away by retention: nothing left to push
    });
    if (gone.length) await this.markQueued(ref, gone);
    return events;
  }

  async markQueued(ref: AccountRef, eventIds: string[]): Promise<void> {
    if (eventIds.length) await this.redis.zrem(this.keys.pendingPushes(ref.userId), ...eventIds.map((id) => `${ref.accountId}/${id}`));
  }
}
