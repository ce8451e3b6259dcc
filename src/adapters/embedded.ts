import type { Config } from '../config.js';
import type { Adapters } from './adapters.js';
import type { ControlMessage, DeviceRevocation } from '../core/ports.js';
import { MemoryAttemptCounter } from './memory/attempt-counter.js';
import { MemoryBroadcastChannel, MemoryHintBus, MemoryLiveFeed } from './memory/buses.js';
import { MemoryMailboxCommands } from './memory/mailbox-commands.js';
import { MemoryLeaseManager, MemoryWorkerRegistry } from './memory/leases.js';
import { TransientPushOutbox } from './memory/push-outbox.js';
import { openDatabase } from './sqlite/database.js';
import { SqliteEventLog } from './sqlite/event-log.js';
import { migrateSqlite } from './sqlite/migration.js';
import { SqliteAccountStore, SqlitePushSubscriptionStore } from './sqlite/stores.js';
import { SqliteDeviceStore, SqliteOAuthFlowStore, SqlitePairingStore, SqliteUserStore } from './sqlite/user-stores.js';

/**
 * Everything one process needs without Redis: what must survive a restart in SQLite under
 * DATA_DIR, what only lives while the process does (live feed, leases, control) in memory.
 */
export function createEmbeddedAdapters(config: Pick<Config, 'dataDir' | 'events'>): Adapters {
  const db = openDatabase(config.dataDir);
  // Before anything reads it: this process is the file's only user, so the migration runs at once.
  const migration = migrateSqlite(db);
  const revocations = new MemoryBroadcastChannel<DeviceRevocation>();
  const liveFeed = new MemoryLiveFeed();
  const leases = new MemoryLeaseManager();
  const control = new MemoryBroadcastChannel<ControlMessage>();
  const hints = new MemoryHintBus();
  const mailboxCommands = new MemoryMailboxCommands();
  return {
    eventLog: new SqliteEventLog(db, leases, liveFeed, { maxEvents: config.events.retentionCount, maxAgeMs: config.events.retentionMs }),
    liveFeed,
    accounts: new SqliteAccountStore(db),
    users: new SqliteUserStore(db),
    devices: new SqliteDeviceStore(db),
    pairings: new SqlitePairingStore(db),
    oauthFlows: new SqliteOAuthFlowStore(db),
    revocations,
    attempts: new MemoryAttemptCounter(),
    leases,
    control,
    hints,
    mailboxCommands,
    workers: new MemoryWorkerRegistry(),
    pushSubscriptions: new SqlitePushSubscriptionStore(db),
    pushOutbox: new TransientPushOutbox(),
    async migrate() {
      return migration;
    },
    async ping() {
      db.prepare('SELECT 1').get();
    },
    async close() {
      await liveFeed.close();
      await control.close();
      await revocations.close();
      await hints.close();
      await mailboxCommands.close();
      db.close();
    },
  };
}
