// The embedded store: one SQLite file under DATA_DIR. SQLite's write-ahead log makes every
// transaction atomic and durable, so a crash or power cut mid-write never leaves half an append
// (events without their watermark, or the reverse).

import Database from 'better-sqlite3';
import { chmodSync, mkdirSync } from 'node:fs';
import path from 'node:path';

export type Db = Database.Database;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY,
  created_at TEXT NOT NULL,
  -- the newest event id retention has removed, for resync_required
  trimmed_ms INTEGER NOT NULL DEFAULT 0,
  trimmed_seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tokens (hash TEXT PRIMARY KEY, user_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
  user_id TEXT NOT NULL,
  id TEXT NOT NULL,
  identity TEXT NOT NULL,
  record TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (user_id, id),
  UNIQUE (user_id, identity)
);
CREATE TABLE IF NOT EXISTS watermarks (
  user_id TEXT NOT NULL, account_id TEXT NOT NULL, mailbox TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY (user_id, account_id, mailbox)
);
CREATE TABLE IF NOT EXISTS events (
  user_id TEXT NOT NULL, ms INTEGER NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (user_id, ms, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS push_subscriptions (
  user_id TEXT NOT NULL, id TEXT NOT NULL, endpoint_hash TEXT NOT NULL, record TEXT NOT NULL, seq INTEGER NOT NULL,
  PRIMARY KEY (user_id, id),
  UNIQUE (user_id, endpoint_hash)
);
`;

export function openDatabase(dataDir: string): Db {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // The folder is this user's alone, whatever mode SQLite gives the files it adds later (-wal, -shm).
  chmodSync(dataDir, 0o700);
  const file = path.join(dataDir, 'mailpush.sqlite');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  // FULL: a transaction is on disk before it returns, so an event announced is never forgotten.
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  db.exec(SCHEMA);
  // The database holds tokens' hashes and sealed passwords: readable by this user only.
  db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT); INSERT OR IGNORE INTO meta VALUES (\'schema\', \'1\');');
  for (const suffix of ['', '-wal', '-shm']) {
    try {
      chmodSync(file + suffix, 0o600);
    } catch {
      // the WAL files appear with the first write
    }
  }
  return db;
}
