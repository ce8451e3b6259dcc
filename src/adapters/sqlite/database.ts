// The embedded store: one SQLite file under DATA_DIR. SQLite's write-ahead log makes every
// transaction atomic and durable, so a crash or power cut mid-write never leaves half an append
// (events without their watermark, or the reverse).

import { chmodSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';

/**
 * Node's built-in SQLite (node:sqlite, unflagged since Node 22.13 and 23.4) with the one helper
 * the stores need: `transaction(fn)`, which, like better-sqlite3's (used until December 2026),
 * returns a function that runs `fn` between BEGIN and COMMIT and rolls back if it throws. A nested
 * call becomes a savepoint. The file format is SQLite's own, so a store written by either opens
 * in the other (test/integration/adapter-conformance.test.ts reads one written by better-sqlite3).
 */
export class Db {
  private depth = 0;

  constructor(private readonly sqlite: DatabaseSync) {}

  prepare(sql: string): StatementSync {
    return this.sqlite.prepare(sql);
  }

  exec(sql: string): void {
    this.sqlite.exec(sql);
  }

  /** One value of a PRAGMA that answers a row, e.g. `pragma('journal_mode')` → 'wal'. */
  pragma(name: string): unknown {
    const row = this.sqlite.prepare(`PRAGMA ${name}`).get();
    return row ? Object.values(row)[0] : undefined;
  }

  transaction<T>(fn: () => T): () => T {
    return () => {
      const savepoint = `sp${this.depth}`;
      this.sqlite.exec(this.depth === 0 ? 'BEGIN' : `SAVEPOINT ${savepoint}`);
      this.depth += 1;
      try {
        const result = fn();
        this.depth -= 1;
        this.sqlite.exec(this.depth === 0 ? 'COMMIT' : `RELEASE ${savepoint}`);
        return result;
      } catch (error) {
        this.depth -= 1;
        this.sqlite.exec(this.depth === 0 ? 'ROLLBACK' : `ROLLBACK TO ${savepoint}; RELEASE ${savepoint}`);
        throw error;
      }
    };
  }

  close(): void {
    this.sqlite.close();
  }
}

/**
 * Loads node:sqlite. Node 22 announces it with an ExperimentalWarning on stderr (Node 24 no longer
 * does); that one warning is dropped, because start-up errors must stay one line on stderr.
 */
function loadSqlite(): typeof import('node:sqlite') {
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    if (type === 'ExperimentalWarning' && String(warning).includes('SQLite')) return;
    (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    const sqlite = process.getBuiltinModule?.('node:sqlite') as typeof import('node:sqlite') | undefined;
    if (!sqlite) throw new Error(`the embedded store needs node:sqlite, in Node.js 22.13 or newer (24 recommended); this is ${process.version}`);
    return sqlite;
  } finally {
    process.emitWarning = emitWarning;
  }
}

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
CREATE TABLE IF NOT EXISTS devices (
  user_id TEXT NOT NULL, id TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
  created_at TEXT NOT NULL, last_seen_at TEXT NOT NULL,
  PRIMARY KEY (user_id, id)
);
-- Added with quiet hours (December 2026); created when an older file opens, so no migration step.
CREATE TABLE IF NOT EXISTS quiet_hours (
  user_id TEXT NOT NULL, device_id TEXT NOT NULL, settings TEXT NOT NULL,
  PRIMARY KEY (user_id, device_id)
);
CREATE TABLE IF NOT EXISTS pairings (code_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS oauth_flows (kind TEXT NOT NULL, key_hash TEXT NOT NULL, value TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (kind, key_hash));
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
  const { DatabaseSync } = loadSqlite();
  const db = new Db(new DatabaseSync(file));
  db.exec('PRAGMA journal_mode = WAL');
  // FULL: a transaction is on disk before it returns, so an event announced is never forgotten.
  db.exec('PRAGMA synchronous = FULL');
  db.exec('PRAGMA busy_timeout = 5000');
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
