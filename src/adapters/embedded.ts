import type { Config } from '../config.js';
import type { Adapters } from './adapters.js';
import { MemoryControlBus, MemoryHintBus, MemoryLiveFeed } from './memory/buses.js';
import { MemoryLeaseManager, MemoryWorkerRegistry } from './memory/leases.js';
import { TransientPushOutbox } from './memory/push-outbox.js';
import { openDatabase } from './sqlite/database.js';
import { SqliteEventLog } from './sqlite/event-log.js';
import { SqliteAccountStore, SqlitePushSubscriptionStore, SqliteUserStore } from './sqlite/stores.js';

/**
 * Everything one process needs without Redis: what must survive a restart in SQLite under
 * DATA_DIR, what only lives while the process does (live feed, leases, control) in memory.
 */
export function createEmbeddedAdapters(config: Pick<Config, 'dataDir' | 'events'>): Adapters {
  const db = openDatabase(config.dataDir);
  const liveFeed = new MemoryLiveFeed();
  const leases = new MemoryLeaseManager();
  const control = new MemoryControlBus();
  const hints = new MemoryHintBus();
  return {
    eventLog: new SqliteEventLog(db, leases, liveFeed, { maxEvents: config.events.retentionCount, maxAgeMs: config.events.retentionMs }),
    liveFeed,
    accounts: new SqliteAccountStore(db),
    users: new SqliteUserStore(db),
    leases,
    control,
    hints,
    workers: new MemoryWorkerRegistry(),
    pushSubscriptions: new SqlitePushSubscriptionStore(db),
    pushOutbox: new TransientPushOutbox(),
    async ping() {
      db.prepare('SELECT 1').get();
    },
    async close() {
      await liveFeed.close();
      await control.close();
      await hints.close();
      db.close();
    },
  };
}
