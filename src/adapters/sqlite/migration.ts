// Schema 2 of the embedded store, applied when the database opens (one process owns the file, so
// there is nothing to coordinate): every bearer token becomes a device, and a mailbox that two
// users registered becomes one account of the older user, after which a unique index keeps it so.
//
// Why merge rather than drop the newer user's account: both users' devices belong to the person
// who knows that mailbox's password, and after the merge all of them keep working (same tokens,
// same push subscriptions) with one IMAP session instead of two. The newer user's own event log
// is dropped; its devices continue on the older user's log.

import type { MigrationReport } from '../adapters.js';
import type { PushSubscriptionRecord } from '../../core/ports.js';
import { newId } from '../../core/tokens.js';
import type { AccountRecord } from '../../core/types.js';
import type { Db } from './database.js';

export const SQLITE_SCHEMA_VERSION = 2;

export function migrateSqlite(db: Db): MigrationReport {
  const report: MigrationReport = { usersMerged: 0, accountsRemoved: 0, tokensConverted: 0 };
  const row = db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: string } | undefined;
  if (Number(row?.value ?? 1) >= SQLITE_SCHEMA_VERSION) return report;
  db.transaction(() => {
    report.tokensConverted = convertTokens(db);
    for (;;) {
      const shared = db.prepare('SELECT identity FROM accounts GROUP BY identity HAVING COUNT(*) > 1 LIMIT 1').get() as { identity: string } | undefined;
      if (!shared) break;
      const holders = db
        .prepare('SELECT DISTINCT a.user_id FROM accounts a JOIN users u ON u.id = a.user_id WHERE a.identity = ? ORDER BY u.created_at, a.user_id')
        .all(shared.identity) as Array<{ user_id: string }>;
      const [survivor, ...others] = holders.map((h) => h.user_id);
      for (const other of others) {
        report.accountsRemoved += mergeUser(db, other, survivor!);
        report.usersMerged += 1;
      }
      if (others.length === 0) break; // cannot happen: (user_id, identity) is unique
    }
    db.exec('CREATE UNIQUE INDEX IF NOT EXISTS accounts_mailbox ON accounts (identity)');
    db.prepare("INSERT INTO meta (key, value) VALUES ('schema', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(String(SQLITE_SCHEMA_VERSION));
  })();
  return report;
}

/**
 * Schema 1's bare tokens → one device each, named "Device", first seen when its user was created.
 * Schema 1 gave a user one token, at registration, so a user's push subscriptions were registered
 * with it: they become that device's, and removing the device stops them too (a removed phone must
 * not keep getting notifications). A user with several tokens (none was ever made) keeps them unowned.
 */
function convertTokens(db: Db): number {
  const tokens = db.prepare('SELECT t.hash, t.user_id, u.created_at FROM tokens t JOIN users u ON u.id = t.user_id').all() as Array<{ hash: string; user_id: string; created_at: string }>;
  const insert = db.prepare('INSERT OR IGNORE INTO devices (user_id, id, token_hash, name, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?)');
  const devicesByUser = new Map<string, string[]>();
  for (const token of tokens) {
    const deviceId = newId('dev');
    insert.run(token.user_id, deviceId, token.hash, 'Device', token.created_at, token.created_at);
    devicesByUser.set(token.user_id, [...(devicesByUser.get(token.user_id) ?? []), deviceId]);
  }
  db.exec('DELETE FROM tokens');
  const update = db.prepare('UPDATE push_subscriptions SET record = ? WHERE user_id = ? AND id = ?');
  for (const [userId, [deviceId, ...more]] of devicesByUser) {
    if (!deviceId || more.length > 0) continue;
    const subscriptions = db.prepare('SELECT id, record FROM push_subscriptions WHERE user_id = ?').all(userId) as Array<{ id: string; record: string }>;
    for (const subscription of subscriptions) {
      const record = JSON.parse(subscription.record) as PushSubscriptionRecord;
      if (!record.deviceId) update.run(JSON.stringify({ ...record, deviceId }), userId, subscription.id);
    }
  }
  return tokens.length;
}

/** Moves everything of `from` into `into`; returns how many of its accounts were duplicates and went. */
function mergeUser(db: Db, from: string, into: string): number {
  let removed = 0;
  const accountMap = new Map<string, string>();
  const accounts = db.prepare('SELECT id, identity, record FROM accounts WHERE user_id = ?').all(from) as Array<{ id: string; identity: string; record: string }>;
  for (const account of accounts) {
    const kept = db.prepare('SELECT id FROM accounts WHERE user_id = ? AND identity = ?').get(into, account.identity) as { id: string } | undefined;
    if (kept) {
      db.prepare('DELETE FROM accounts WHERE user_id = ? AND id = ?').run(from, account.id);
      db.prepare('DELETE FROM watermarks WHERE user_id = ? AND account_id = ?').run(from, account.id);
      accountMap.set(account.id, kept.id);
      removed += 1;
    } else {
      // The sealed password is bound to the account id, which stays: it still opens.
      const record = { ...(JSON.parse(account.record) as AccountRecord), userId: into };
      db.prepare('UPDATE accounts SET user_id = ?, record = ? WHERE user_id = ? AND id = ?').run(into, JSON.stringify(record), from, account.id);
      db.prepare('UPDATE watermarks SET user_id = ? WHERE user_id = ? AND account_id = ?').run(into, from, account.id);
      accountMap.set(account.id, account.id);
    }
  }
  db.prepare('UPDATE devices SET user_id = ? WHERE user_id = ?').run(into, from);
  const subscriptions = db.prepare('SELECT id, endpoint_hash, record FROM push_subscriptions WHERE user_id = ?').all(from) as Array<{ id: string; endpoint_hash: string; record: string }>;
  for (const subscription of subscriptions) {
    const taken = db.prepare('SELECT 1 FROM push_subscriptions WHERE user_id = ? AND endpoint_hash = ?').get(into, subscription.endpoint_hash);
    if (taken) continue; // the same browser subscribed to both users: the older user's stays
    const record = JSON.parse(subscription.record) as PushSubscriptionRecord;
    const moved = { ...record, userId: into, accounts: [...new Set(record.accounts.map((id) => accountMap.get(id) ?? id))] };
    db.prepare('UPDATE push_subscriptions SET user_id = ?, record = ? WHERE user_id = ? AND id = ?').run(into, JSON.stringify(moved), from, subscription.id);
  }
  for (const table of ['push_subscriptions', 'events', 'pairings', 'tokens']) db.prepare(`DELETE FROM ${table} WHERE user_id = ?`).run(from);
  db.prepare('DELETE FROM users WHERE id = ?').run(from);
  return removed;
}
