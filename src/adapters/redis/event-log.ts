import { isCluster, type RedisClient } from './connection.js';
import { MAX_EVENT_ID, canonicalEventId, compareEventIds } from '../../core/event-ids.js';
import type { AppendRequest, AppendResult, EventLog, Watermark } from '../../core/ports.js';
import type { MailEvent } from '../../core/types.js';
import type { AccountRef } from '../../core/account-ref.js';
import type { RedisKeys } from '../../keys.js';
import { formatWatermark, parseWatermark, type RetentionPolicy } from '../../core/watermark.js';
import { liveEventArgs } from './live-wire.js';
import { appendEvents, appendEventsSharded } from './scripts.js';

/** Stream entries store the event without its id (the entry id is the event id). */
export function entryToEvent(id: string, fields: string[]): MailEvent | undefined {
  const json = fields[1];
  if (fields[0] !== 'e' || json === undefined) return undefined;
  return { id, ...(JSON.parse(json) as Omit<MailEvent, 'id'>) };
}

export class RedisEventLog implements EventLog {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly retention: RetentionPolicy,
  ) {}

  async append(request: AppendRequest): Promise<AppendResult> {
    const { lease, watermark } = request;
    const script = isCluster(this.redis) ? appendEventsSharded : appendEvents;
    const result = (await script.run(
      this.redis,
      [this.keys.events(lease.userId), this.keys.watermarks(lease), this.keys.lease(lease), this.keys.pushSubscriptions(lease.userId), this.keys.pendingPushes(lease.userId)],
      [
        `${lease.workerId}:${lease.fence}`,
        watermark?.mailbox ?? '',
        watermark?.expected ? formatWatermark(watermark.expected) : '',
        watermark ? formatWatermark(watermark.next) : '',
        this.retention.maxEvents,
        `${Date.now() - this.retention.maxAgeMs}-0`,
        this.keys.liveChannel(lease.userId),
        request.events.map((_, i) => (request.pushable?.[i] ? '1' : '0')).join(''),
        lease.accountId,
        ...request.events.flatMap(liveEventArgs),
      ],
    )) as string[];
    const [status, ...ids] = result;
    if (status === 'ok') return { ok: true, ids };
    return { ok: false, reason: status === 'lease_lost' ? 'lease_lost' : 'watermark_moved' };
  }

  async read(userId: string, since: string | undefined, limit: number): Promise<MailEvent[]> {
    // Redis refuses an exclusive start at the largest id (it has no successor); nothing follows it.
    if (since !== undefined && canonicalEventId(since) === MAX_EVENT_ID) return [];
    const start = since ? `(${since}` : '-';
    const entries = await this.redis.xrange(this.keys.events(userId), start, '+', 'COUNT', limit);
    const events: MailEvent[] = [];
    for (const [id, fields] of entries) {
      const event = entryToEvent(id, fields);
      if (event) events.push(event);
    }
    return events;
  }

  async latestId(userId: string): Promise<string | undefined> {
    const newest = await this.redis.xrevrange(this.keys.events(userId), '+', '-', 'COUNT', 1);
    return newest[0]?.[0];
  }

  async isTrimmedAfter(userId: string, since: string): Promise<boolean> {
    let info: unknown[];
    try {
      info = (await this.redis.call('XINFO', 'STREAM', this.keys.events(userId))) as unknown[];
    } catch (error) {
      // No stream yet: nothing was ever trimmed. Any other error must reach the caller, or a
      // client that missed events would never hear resync_required.
      if (/^ERR no such key/.test((error as Error).message)) return false;
      throw error;
    }
    const field = (name: string) => {
      const at = info.indexOf(name);
      return at >= 0 ? info[at + 1] : undefined;
    };
    const removed = Number(field('entries-added')) - Number(field('length'));
    if (!(removed > 0)) return false;
    // Retention trims from the oldest end, so everything removed sits below the first entry left
    // (or, for an emptied log, at or below the last id ever given). A `since` below that may
    // have missed something; one exactly on the newest removed entry gets a harmless extra resync.
    const left = Number(field('length'));
    const boundary = String(left > 0 ? field('recorded-first-entry-id') : field('last-generated-id'));
    return compareEventIds(canonicalEventId(since), boundary) < 0;
  }

  async watermark(ref: AccountRef, mailbox: string): Promise<Watermark | undefined> {
    return parseWatermark(await this.redis.hget(this.keys.watermarks(ref), mailbox));
  }
}
