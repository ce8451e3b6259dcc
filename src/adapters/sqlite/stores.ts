// Accounts and push subscriptions in the embedded SQLite store. Records are kept as JSON in
// one column: they are read and written whole, and the API shape stays the single definition.

import { createHash } from 'node:crypto';
import type {
  AccountChanges, AccountStatePatch, AccountStore, PushSubscriptionRecord, PushSubscriptionStore,
} from '../../core/ports.js';
import type { AccountRecord } from '../../core/types.js';
import type { AccountRef } from '../../core/account-ref.js';
import type { Db } from './database.js';

export class SqliteAccountStore implements AccountStore {
  constructor(private readonly db: Db) {}

  /** The unique index on identity (schema 2, sqlite/migration.ts) makes a mailbox one account gateway-wide. */
  async create(record: AccountRecord, identity: string): Promise<'created' | 'exists'> {
    const result = this.db
      .prepare('INSERT OR IGNORE INTO accounts (user_id, id, identity, record, seq) VALUES (?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM accounts))')
      .run(record.userId, record.accountId, identity, JSON.stringify(record));
    return result.changes === 1 ? 'created' : 'exists';
  }

  async findMailbox(identity: string): Promise<AccountRef | undefined> {
    const row = this.db.prepare('SELECT user_id, id FROM accounts WHERE identity = ?').get(identity) as { user_id: string; id: string } | undefined;
    return row ? { userId: row.user_id, accountId: row.id } : undefined;
  }

  async get(ref: AccountRef): Promise<AccountRecord | undefined> {
    return this.read(ref);
  }

  async listForUser(userId: string): Promise<AccountRecord[]> {
    const rows = this.db.prepare('SELECT record FROM accounts WHERE user_id = ? ORDER BY seq').all(userId) as Array<{ record: string }>;
    return rows.map((row) => JSON.parse(row.record) as AccountRecord);
  }

  async update(ref: AccountRef, changes: AccountChanges): Promise<AccountRecord | undefined> {
    return this.modify(ref, (record) => {
      const { webmailUrl, ...rest } = changes;
      const next: AccountRecord = { ...record, ...rest, updatedAt: new Date().toISOString() };
      // null removes the template: the record keeps no null field (like Redis, which drops the hash field).
      if (webmailUrl === null) delete next.webmailUrl;
      else if (webmailUrl !== undefined) next.webmailUrl = webmailUrl;
      return next;
    });
  }

  async setState(ref: AccountRef, patch: AccountStatePatch): Promise<void> {
    this.modify(ref, (record) => {
      const next: AccountRecord = { ...record, state: patch.state, updatedAt: new Date().toISOString() };
      if (patch.lastError === null) delete next.lastError;
      else if (patch.lastError !== undefined) next.lastError = patch.lastError;
      if (patch.unseen !== undefined) next.unseen = patch.unseen;
      return next;
    });
  }

  async delete(ref: AccountRef): Promise<boolean> {
    return this.db.transaction(() => {
      const removed = this.db.prepare('DELETE FROM accounts WHERE user_id = ? AND id = ?').run(ref.userId, ref.accountId).changes === 1;
      this.db.prepare('DELETE FROM watermarks WHERE user_id = ? AND account_id = ?').run(ref.userId, ref.accountId);
      return removed;
    })();
  }

  async count(): Promise<number> {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM accounts').get() as { n: number }).n;
  }

  /** Pages by the insertion sequence; the cursor is the last sequence seen ('0' starts and ends). */
  async scan(cursor: string): Promise<{ cursor: string; refs: AccountRef[] }> {
    const rows = this.db
      .prepare('SELECT user_id, id, seq FROM accounts WHERE seq > ? ORDER BY seq LIMIT 500')
      .all(Number(cursor)) as Array<{ user_id: string; id: string; seq: number }>;
    const refs = rows.map((row) => ({ userId: row.user_id, accountId: row.id }));
    return { cursor: rows.length === 500 ? String(rows.at(-1)!.seq) : '0', refs };
  }

  private read(ref: AccountRef): AccountRecord | undefined {
    const row = this.db.prepare('SELECT record FROM accounts WHERE user_id = ? AND id = ?').get(ref.userId, ref.accountId) as { record: string } | undefined;
    return row ? (JSON.parse(row.record) as AccountRecord) : undefined;
  }

  /** Read-modify-write in one transaction; a deleted account is never brought back. */
  private modify(ref: AccountRef, change: (record: AccountRecord) => AccountRecord): AccountRecord | undefined {
    return this.db.transaction(() => {
      const record = this.read(ref);
      if (!record) return undefined;
      const next = change(record);
      this.db.prepare('UPDATE accounts SET record = ? WHERE user_id = ? AND id = ?').run(JSON.stringify(next), ref.userId, ref.accountId);
      return next;
    })();
  }
}

const endpointHash = (endpoint: string) => createHash('sha256').update(endpoint).digest('hex');

export class SqlitePushSubscriptionStore implements PushSubscriptionStore {
  constructor(private readonly db: Db) {}

  async upsert(record: PushSubscriptionRecord, maxPerUser: number): Promise<{ record: PushSubscriptionRecord; created: boolean } | 'limit'> {
    const hash = endpointHash(record.endpoint);
    return this.db.transaction(() => {
      const existing = this.db.prepare('SELECT record FROM push_subscriptions WHERE user_id = ? AND endpoint_hash = ?').get(record.userId, hash) as { record: string } | undefined;
      if (existing) {
        const previous = JSON.parse(existing.record) as PushSubscriptionRecord;
        const stored = { ...record, id: previous.id, createdAt: previous.createdAt };
        this.db.prepare('UPDATE push_subscriptions SET record = ? WHERE user_id = ? AND id = ?').run(JSON.stringify(stored), record.userId, previous.id);
        return { record: stored, created: false };
      }
      const count = (this.db.prepare('SELECT COUNT(*) AS n FROM push_subscriptions WHERE user_id = ?').get(record.userId) as { n: number }).n;
      if (count >= maxPerUser) return 'limit' as const;
      this.db
        .prepare('INSERT INTO push_subscriptions (user_id, id, endpoint_hash, record, seq) VALUES (?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM push_subscriptions))')
        .run(record.userId, record.id, hash, JSON.stringify(record));
      return { record, created: true };
    })();
  }

  async list(userId: string): Promise<PushSubscriptionRecord[]> {
    const rows = this.db.prepare('SELECT record FROM push_subscriptions WHERE user_id = ? ORDER BY seq').all(userId) as Array<{ record: string }>;
    return rows.map((row) => JSON.parse(row.record) as PushSubscriptionRecord);
  }

  async get(userId: string, id: string): Promise<PushSubscriptionRecord | undefined> {
    const row = this.db.prepare('SELECT record FROM push_subscriptions WHERE user_id = ? AND id = ?').get(userId, id) as { record: string } | undefined;
    return row ? (JSON.parse(row.record) as PushSubscriptionRecord) : undefined;
  }

  async delete(userId: string, id: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM push_subscriptions WHERE user_id = ? AND id = ?').run(userId, id).changes === 1;
  }
}
