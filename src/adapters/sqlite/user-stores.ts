// Users, devices and pairing codes in the embedded SQLite store. Deleting a user is one
// transaction over every table that names it, so nothing of it is left half-erased.

import type { DeviceRecord, DeviceStore, OAuthFlowKind, OAuthFlowStore, PairingStore, UserStore } from '../../core/ports.js';
import { newId } from '../../core/tokens.js';
import type { QuietHours } from '../../protocol/quiet-hours.js';
import type { Db } from './database.js';

interface DeviceRow {
  user_id: string;
  id: string;
  token_hash: string;
  name: string;
  created_at: string;
  last_seen_at: string;
}

const toRecord = (row: DeviceRow): DeviceRecord => ({
  id: row.id, userId: row.user_id, name: row.name, tokenHash: row.token_hash, createdAt: row.created_at, lastSeenAt: row.last_seen_at,
});

/** Every table with a user_id column: what deleting a user empties. */
const USER_TABLES = ['devices', 'quiet_hours', 'pairings', 'accounts', 'watermarks', 'events', 'push_subscriptions', 'tokens'] as const;

export class SqliteDeviceStore implements DeviceStore {
  constructor(private readonly db: Db) {}

  async add(userId: string, tokenHash: string, name: string): Promise<DeviceRecord | undefined> {
    return this.insert(userId, tokenHash, name);
  }

  /** Synchronous, so the user store can add the first device inside its own transaction. */
  insert(userId: string, tokenHash: string, name: string): DeviceRecord | undefined {
    const now = new Date().toISOString();
    const record: DeviceRecord = { id: newId('dev'), userId, name, tokenHash, createdAt: now, lastSeenAt: now };
    const inserted = this.db
      .prepare('INSERT INTO devices (user_id, id, token_hash, name, created_at, last_seen_at) SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM users WHERE id = ?)')
      .run(userId, record.id, tokenHash, name, now, now, userId);
    return inserted.changes === 1 ? record : undefined;
  }

  async findByToken(tokenHash: string): Promise<DeviceRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM devices WHERE token_hash = ?').get(tokenHash) as DeviceRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  async list(userId: string): Promise<DeviceRecord[]> {
    const rows = this.db.prepare('SELECT * FROM devices WHERE user_id = ? ORDER BY created_at, id').all(userId) as unknown as DeviceRow[];
    return rows.map(toRecord);
  }

  async rename(userId: string, deviceId: string, name: string): Promise<DeviceRecord | undefined> {
    this.db.prepare('UPDATE devices SET name = ? WHERE user_id = ? AND id = ?').run(name, userId, deviceId);
    const row = this.db.prepare('SELECT * FROM devices WHERE user_id = ? AND id = ?').get(userId, deviceId) as DeviceRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  async touch(userId: string, deviceId: string, at: string): Promise<void> {
    this.db.prepare('UPDATE devices SET last_seen_at = ? WHERE user_id = ? AND id = ?').run(at, userId, deviceId);
  }

  async delete(userId: string, deviceId: string): Promise<boolean> {
    return this.db.transaction(() => {
      this.db.prepare('DELETE FROM quiet_hours WHERE user_id = ? AND device_id = ?').run(userId, deviceId);
      return this.db.prepare('DELETE FROM devices WHERE user_id = ? AND id = ?').run(userId, deviceId).changes === 1;
    })();
  }

  async quietHours(userId: string): Promise<Map<string, QuietHours>> {
    const rows = this.db.prepare('SELECT device_id, settings FROM quiet_hours WHERE user_id = ?').all(userId) as unknown as Array<{ device_id: string; settings: string }>;
    return new Map(rows.map((row) => [row.device_id, JSON.parse(row.settings) as QuietHours]));
  }

  async setQuietHours(userId: string, deviceId: string, quietHours: QuietHours): Promise<boolean> {
    const saved = this.db
      .prepare(`INSERT INTO quiet_hours (user_id, device_id, settings) SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM devices WHERE user_id = ? AND id = ?)
        ON CONFLICT (user_id, device_id) DO UPDATE SET settings = excluded.settings`)
      .run(userId, deviceId, JSON.stringify(quietHours), userId, deviceId);
    return saved.changes === 1;
  }
}

export class SqliteUserStore implements UserStore {
  private readonly devices: SqliteDeviceStore;

  constructor(private readonly db: Db) {
    this.devices = new SqliteDeviceStore(db);
  }

  async create(tokenHash: string, deviceName = 'Device'): Promise<string> {
    const userId = newId('usr');
    this.db.transaction(() => {
      this.db.prepare('INSERT INTO users (id, created_at) VALUES (?, ?)').run(userId, new Date().toISOString());
      this.devices.insert(userId, tokenHash, deviceName);
    })();
    return userId;
  }

  async findByToken(tokenHash: string): Promise<string | undefined> {
    return (await this.devices.findByToken(tokenHash))?.userId;
  }

  async exists(userId: string): Promise<boolean> {
    return this.db.prepare('SELECT 1 FROM users WHERE id = ?').get(userId) !== undefined;
  }

  async delete(userId: string): Promise<boolean> {
    return this.db.transaction(() => {
      for (const table of USER_TABLES) this.db.prepare(`DELETE FROM ${table} WHERE user_id = ?`).run(userId);
      return this.db.prepare('DELETE FROM users WHERE id = ?').run(userId).changes === 1;
    })();
  }
}

export class SqliteOAuthFlowStore implements OAuthFlowStore {
  constructor(private readonly db: Db) {}

  async put(kind: OAuthFlowKind, keyHash: string, value: string, expiresAtMs: number): Promise<void> {
    this.db.transaction(() => {
      // Expired records go whenever a new one comes, so the table holds only live ones.
      this.db.prepare('DELETE FROM oauth_flows WHERE expires_at <= ?').run(Date.now());
      this.db.prepare('INSERT INTO oauth_flows (kind, key_hash, value, expires_at) VALUES (?, ?, ?, ?)').run(kind, keyHash, value, expiresAtMs);
    })();
  }

  async take(kind: OAuthFlowKind, keyHash: string, nowMs: number): Promise<string | undefined> {
    // DELETE … RETURNING: the first take gets the row, any other finds none.
    const row = this.db.prepare('DELETE FROM oauth_flows WHERE kind = ? AND key_hash = ? RETURNING value, expires_at').get(kind, keyHash) as { value: string; expires_at: number } | undefined;
    return row && row.expires_at > nowMs ? row.value : undefined;
  }
}

export class SqlitePairingStore implements PairingStore {
  constructor(private readonly db: Db) {}

  async create(userId: string, codeHash: string, expiresAtMs: number): Promise<void> {
    this.db.transaction(() => {
      // Expired codes go whenever a new one comes, so the table holds only live ones.
      this.db.prepare('DELETE FROM pairings WHERE expires_at <= ?').run(Date.now());
      this.db.prepare('INSERT INTO pairings (code_hash, user_id, expires_at) VALUES (?, ?, ?)').run(codeHash, userId, expiresAtMs);
    })();
  }

  async claim(codeHash: string, nowMs: number): Promise<string | undefined> {
    // DELETE … RETURNING: the first claim takes the row, any other finds none.
    const row = this.db.prepare('DELETE FROM pairings WHERE code_hash = ? RETURNING user_id, expires_at').get(codeHash) as { user_id: string; expires_at: number } | undefined;
    return row && row.expires_at > nowMs ? row.user_id : undefined;
  }
}
