// The embedded event log. Same contract as the Redis one: the lease check, the watermark
// compare-and-set and the inserts are one SQLite transaction; the live feed hears of the events
// only after they are on disk. Ids keep the "<ms>-<seq>" form of Redis stream ids.

import type { AppendRequest, AppendResult, EventLog, Watermark } from '../../core/ports.js';
import type { MailEvent } from '../../core/types.js';
import type { AccountRef } from '../../core/account-ref.js';
import { formatWatermark, parseWatermark, type RetentionPolicy } from '../../core/watermark.js';
import type { MemoryLiveFeed } from '../memory/buses.js';
import type { MemoryLeaseManager } from '../memory/leases.js';
import type { Db } from './database.js';

function splitId(id: string): [number, number] {
  const [ms = 0, seq = 0] = id.split('-').map(Number);
  return [ms, seq];
}

export class SqliteEventLog implements EventLog {
  constructor(
    private readonly db: Db,
    private readonly leases: MemoryLeaseManager,
    private readonly live: MemoryLiveFeed,
    private readonly retention: RetentionPolicy,
  ) {}

  async append(request: AppendRequest): Promise<AppendResult> {
    const { lease, watermark } = request;
    const outcome = this.db.transaction((): AppendResult => {
      if (!this.leases.holds(lease)) return { ok: false, reason: 'lease_lost' };
      if (watermark) {
        const row = this.db
          .prepare('SELECT value FROM watermarks WHERE user_id = ? AND account_id = ? AND mailbox = ?')
          .get(lease.userId, lease.accountId, watermark.mailbox) as { value: string } | undefined;
        if ((row?.value ?? '') !== (watermark.expected ? formatWatermark(watermark.expected) : '')) return { ok: false, reason: 'watermark_moved' };
        this.db
          .prepare('INSERT INTO watermarks (user_id, account_id, mailbox, value) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET value = excluded.value')
          .run(lease.userId, lease.accountId, watermark.mailbox, formatWatermark(watermark.next));
      }
      const ids = request.events.map((event) => this.insert(lease.userId, JSON.stringify(event)));
      if (ids.length) this.trim(lease.userId);
      return { ok: true, ids };
    })();
    if (outcome.ok) request.events.forEach((event, i) => this.live.publish(lease.userId, { ...event, id: outcome.ids[i]! }));
    return outcome;
  }

  async read(userId: string, since: string | undefined, limit: number): Promise<MailEvent[]> {
    const [ms, seq] = since ? splitId(since) : [-1, -1];
    const rows = this.db
      .prepare('SELECT ms, seq, body FROM events WHERE user_id = ? AND (ms, seq) > (?, ?) ORDER BY ms, seq LIMIT ?')
      .all(userId, ms, seq, limit) as Array<{ ms: number; seq: number; body: string }>;
    return rows.map((row) => ({ id: `${row.ms}-${row.seq}`, ...(JSON.parse(row.body) as Omit<MailEvent, 'id'>) }));
  }

  async latestId(userId: string): Promise<string | undefined> {
    const row = this.db.prepare('SELECT ms, seq FROM events WHERE user_id = ? ORDER BY ms DESC, seq DESC LIMIT 1').get(userId) as { ms: number; seq: number } | undefined;
    return row ? `${row.ms}-${row.seq}` : undefined;
  }

  async isTrimmedAfter(userId: string, since: string): Promise<boolean> {
    const row = this.db.prepare('SELECT trimmed_ms, trimmed_seq FROM users WHERE id = ?').get(userId) as { trimmed_ms: number; trimmed_seq: number } | undefined;
    if (!row) return false;
    const [ms, seq] = splitId(since);
    return row.trimmed_ms > ms || (row.trimmed_ms === ms && row.trimmed_seq > seq);
  }

  async watermark(ref: AccountRef, mailbox: string): Promise<Watermark | undefined> {
    const row = this.db
      .prepare('SELECT value FROM watermarks WHERE user_id = ? AND account_id = ? AND mailbox = ?')
      .get(ref.userId, ref.accountId, mailbox) as { value: string } | undefined;
    return parseWatermark(row?.value);
  }

  /** The next id after the user's newest, on the clock where possible. */
  private insert(userId: string, body: string): string {
    const last = this.db.prepare('SELECT ms, seq FROM events WHERE user_id = ? ORDER BY ms DESC, seq DESC LIMIT 1').get(userId) as { ms: number; seq: number } | undefined;
    const now = Date.now();
    const [ms, seq] = last && last.ms >= now ? [last.ms, last.seq + 1] : [now, 0];
    this.db.prepare('INSERT INTO events (user_id, ms, seq, body) VALUES (?, ?, ?, ?)').run(userId, ms, seq, body);
    return `${ms}-${seq}`;
  }

  /** Keeps the newest `maxEvents` and nothing older than `maxAgeMs`, remembering the last id dropped. */
  private trim(userId: string): void {
    const cutoff = this.db
      .prepare('SELECT ms, seq FROM events WHERE user_id = ? ORDER BY ms DESC, seq DESC LIMIT 1 OFFSET ?')
      .get(userId, this.retention.maxEvents) as { ms: number; seq: number } | undefined;
    const oldest = Date.now() - this.retention.maxAgeMs;
    const byAge = this.db
      .prepare('SELECT ms, seq FROM events WHERE user_id = ? AND ms < ? ORDER BY ms DESC, seq DESC LIMIT 1')
      .get(userId, oldest) as { ms: number; seq: number } | undefined;
    const through = [cutoff, byAge].filter((r): r is { ms: number; seq: number } => !!r).sort((a, b) => b.ms - a.ms || b.seq - a.seq)[0];
    if (!through) return;
    this.db.prepare('DELETE FROM events WHERE user_id = ? AND (ms, seq) <= (?, ?)').run(userId, through.ms, through.seq);
    this.db
      .prepare('INSERT INTO users (id, created_at, trimmed_ms, trimmed_seq) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET trimmed_ms = excluded.trimmed_ms, trimmed_seq = excluded.trimmed_seq')
      .run(userId, new Date().toISOString(), through.ms, through.seq);
  }
}
