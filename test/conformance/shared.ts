// What the conformance cases share: records and events to store, and a look at every node's keys.

import { isCluster, type RedisClient } from '../../src/adapters/redis/connection.js';
import { newId } from '../../src/core/tokens.js';
import type { AccountRecord, NewEvent } from '../../src/core/types.js';

export const events = { batchSize: 25, retentionCount: 10, retentionMs: 7 * 86400_000 };

export function account(userId: string): AccountRecord {
  const now = new Date().toISOString();
  return {
    userId, accountId: newId('acc'), email: 'a@example.test', imap: { host: 'imap.example.test', port: 993, security: 'tls', user: 'a' },
    sealedPassword: 'v1.x.y.z', mailboxes: ['INBOX'], disabled: false, state: 'connecting', createdAt: now, updatedAt: now,
  };
}

export const note = (n: number): NewEvent => ({ type: 'account.state', accountId: 'acc_x', mailbox: null, time: new Date().toISOString(), data: { state: 'idle', error: String(n) } });

/** KEYS on every primary: on a cluster each node answers for its own slots only. */
export async function keysEverywhere(redis: RedisClient, pattern: string): Promise<string[]> {
  const nodes = isCluster(redis) ? redis.nodes('master') : [redis];
  return (await Promise.all(nodes.map((node) => node.keys(pattern)))).flat();
}

