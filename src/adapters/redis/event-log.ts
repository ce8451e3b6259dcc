import { isCluster, type RedisClient } from './connection.js';
import { MAX_EVENT_ID, canonicalEventId, compareEventIds } from '../../core/event-ids.js';
import type { AppendRequest, AppendResult, EventLog, Watermark } from '../../core/ports.js';
import type { MailEvent } from '../../core/types.js';
import type { AccountRef } from '../../core/account-ref.js';
import type { RedisKeys } from '../../keys.js';
import { formatWatermark, parseWatermark, type RetentionPolicy } from '../../core/watermark.js';
import { liveEventArgs } from './live-wire.js';
import { appendEvents, appendEventsSharded } from './scripts.js';
import type { LuaScript } from './lua.js';
import type { Logger } from 'pino';

/** Stream entries store the event without its id (the entry id is the event id). */
export function entryToEvent(id: string, fields: string[]): MailEvent | undefined {
  const json = fields[1];
  if (fields[0] !== 'e' || json === undefined) return undefined;
  return { id, ...(JSON.parse(json) as Omit<MailEvent, 'id'>) };
}

/** How many replicas must have an append (Redis WAIT), and for how long to wait for them. */
export interface ReplicaWait {
  replicas: number;
  timeoutMs: number;
}

/** How long appends skip the WAIT after one came back short, before trying it again. */
const WAIT_PAUSE_MS = 10_000;

export class RedisEventLog implements EventLog {
  private readonly lostWritesListeners: Array<() => void> = [];
  /** True while appends are not reaching enough replicas in time: logged once per episode. */
  private replicationShort = false;
  /** Appends skip the WAIT until then, after one that came back short. */
  private waitPausedUntil = 0;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly retention: RetentionPolicy,
    private readonly wait: ReplicaWait = { replicas: 0, timeoutMs: 0 },
    private readonly log?: Logger,
  ) {
    const lost = () => this.lostWritesListeners.forEach((listener) => listener());
    if (isCluster(redis)) {
      // A slot changed primary (a replica promoted after its primary failed, or a resharding):
      // the new primary may lack what the old one had not yet replicated. Compared on each slot
      // map refresh, which follows any MOVED or lost node; a re-read then goes to the new primary.
      let primaries = '';
      redis.on('refresh', () => {
        const now = redis.slots.map((nodes) => nodes?.[0] ?? '').join(',');
        if (primaries !== '' && now !== primaries) lost();
        primaries = now;
      });
    } else {
      // A Redis that restarted without persistence (or with fsync everysec) may have lost the last writes.
      let connectedOnce = redis.status === 'ready';
      redis.on('ready', () => {
        if (connectedOnce) lost();
        connectedOnce = true;
      });
    }
  }

  onWritesMayBeLost(listener: () => void): void {
    this.lostWritesListeners.push(listener);
  }

  async append(request: AppendRequest): Promise<AppendResult> {
    const { lease, watermark } = request;
    const script = isCluster(this.redis) ? appendEventsSharded : appendEvents;
    const result = (await this.runAppend(
      script,
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

  /**
   * The append script, then (when configured) WAIT for replicas: the caller queues pushes only after
   * this returns, so an event a failing primary takes with it has not been pushed yet when the
   * worker, re-reading its watermark, appends it again.
   */
  private async runAppend(script: LuaScript, keys: string[], args: Array<string | number>): Promise<unknown> {
    if (this.wait.replicas === 0 || Date.now() < this.waitPausedUntil) return script.run(this.redis, keys, args);
    const { reply, replicas } = await script.runReplicated(this.redis, keys, args, this.wait.replicas, this.wait.timeoutMs);
    const short = replicas < this.wait.replicas;
    if (short) {
      // Fewer replicas than asked: a promoted replica whose old primary is not back yet, or a
      // replica down. Each WAIT would now cost the full timeout and hold every command behind it
      // on the connection, and it cannot make the append safer: stop waiting for a while.
      this.waitPausedUntil = Date.now() + WAIT_PAUSE_MS;
      if (!this.replicationShort) this.log?.warn({ wanted: this.wait.replicas, acknowledged: replicas, timeoutMs: this.wait.timeoutMs, pauseMs: WAIT_PAUSE_MS }, 'an append did not reach enough replicas in time (REDIS_WAIT_REPLICAS); appends go without WAIT for a while, and a primary failing meanwhile may lose its latest ones');
    } else if (this.replicationShort) {
      this.log?.info('appends reach their replicas again');
    }
    this.replicationShort = short;
    return reply;
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
