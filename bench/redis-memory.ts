// npm run bench:redis-memory — Redis memory per account and per event, from INFO memory, for
// docs/scaling.md. Small and quick (no IMAP, no mailpush process): on a fresh redis-server with the
// recommended arguments (or BENCH_REDIS=cluster: summed over the primaries; replicas hold as much
// again), `used_memory` is read before and after
//   1. BENCH_ACCOUNTS accounts (default 2,000), each with its own user and token, written through
//      the Redis adapters as POST /v1/accounts stores them, their lease taken and their watermark
//      set by one empty append (what a worker writes when it starts an account);
//   2. BENCH_EVENTS_PER_ACCOUNT `mail.new` events (default 100) appended to every account, through
//      the append script, as the worker appends them (~480-byte events, like bench:fanout's).
// The differences divided by the counts are the per-unit costs. Numbers only; no chart.

import { randomBytes } from 'node:crypto';
import type { Adapters } from '../src/adapters/adapters.js';
import { isCluster } from '../src/adapters/redis/connection.js';
import { SecretBox } from '../src/core/secret-box.js';
import { hashToken, newId, newToken } from '../src/core/tokens.js';
import type { Lease } from '../src/core/ports.js';
import type { NewEvent } from '../src/core/types.js';
import { benchAdapters, BENCH_SECRET, Cleanup, startBenchRedis } from './lib/fixtures.js';
import { fmt, machine, table } from './lib/report.js';

const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 2000);
const EVENTS_PER_ACCOUNT = Number(process.env.BENCH_EVENTS_PER_ACCOUNT ?? 100);
const CONCURRENCY = 64;

/** used_memory of every primary, summed. */
async function usedMemory(adapters: Adapters): Promise<number> {
  const redis = adapters.redis!;
  const nodes = isCluster(redis) ? redis.nodes('master') : [redis];
  const infos = await Promise.all(nodes.map((node) => node.info('memory')));
  return infos.reduce((sum, info) => sum + Number(/used_memory:(\d+)/.exec(info)?.[1]), 0);
}

async function inParallel<T>(items: T[], task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < items.length) await task(items[next++]!);
  }));
}

function mailNew(accountId: string, uid: number): NewEvent {
  const now = new Date().toISOString();
  return {
    type: 'mail.new', accountId, mailbox: 'INBOX', time: now,
    data: {
      uid, uidValidity: '1700000000', messageId: `<m${uid}.${randomBytes(4).toString('hex')}@example.test>`,
      from: { name: 'Bench Sender', address: 'sender@example.test' }, subject: 'A subject of ordinary length for a benchmark', date: now,
      snippet: 'The first two hundred characters of the message body would be here, decoded and trimmed.', unseen: uid, catchUp: false,
    },
  };
}

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  try {
    const redis = await startBenchRedis();
    cleanup.add('redis', () => redis.cleanup());
    console.log(`\nRedis memory — ${machine()}; ${redis.label}`);
    const adapters = benchAdapters(redis.target);
    cleanup.add('bench redis client', () => adapters.close());
    await adapters.ping();
    const box = new SecretBox(BENCH_SECRET);
    const empty = await usedMemory(adapters);

    const leases: Lease[] = [];
    await inParallel(Array.from({ length: ACCOUNTS }, (_, i) => i), async (i) => {
      const userId = await adapters.users.create(hashToken(newToken()));
      const accountId = newId('acc');
      const now = new Date().toISOString();
      await adapters.accounts.create({
        userId, accountId, email: `m${i}@example.test`,
        imap: { host: 'imap.example.test', port: 993, security: 'tls', user: `m${i}@example.test` },
        sealedPassword: box.seal('a mailbox password', accountId),
        mailboxes: ['INBOX'], disabled: false, state: 'idle', createdAt: now, updatedAt: now,
      }, `imap.example.test|993|m${i}@example.test`);
      const lease = await adapters.leases.acquire({ userId, accountId }, 'wrk_bench', 600_000);
      if (!lease) throw new Error('lease not granted');
      await adapters.eventLog.append({ lease, events: [], watermark: { mailbox: 'INBOX', expected: undefined, next: { uidValidity: '1700000000', lastUid: 0 } } });
      leases.push(lease);
    });
    const withAccounts = await usedMemory(adapters);

    await inParallel(leases, async (lease) => {
      for (let uid = 1; uid <= EVENTS_PER_ACCOUNT; uid++) {
        const result = await adapters.eventLog.append({
          lease, events: [mailNew(lease.accountId, uid)],
          watermark: { mailbox: 'INBOX', expected: { uidValidity: '1700000000', lastUid: uid - 1 }, next: { uidValidity: '1700000000', lastUid: uid } },
        });
        if (!result.ok) throw new Error(`append refused: ${result.reason}`);
      }
    });
    const withEvents = await usedMemory(adapters);

    const events = ACCOUNTS * EVENTS_PER_ACCOUNT;
    console.log(table(
      ['what', 'used_memory (primaries)', 'per unit'],
      [
        ['empty', `${fmt(empty / 2 ** 20)} MiB`, ''],
        [`${ACCOUNTS} accounts (user, token, account, lease, watermark)`, `${fmt(withAccounts / 2 ** 20)} MiB`, `${fmt((withAccounts - empty) / ACCOUNTS / 1024, 2)} KiB per account`],
        [`+ ${EVENTS_PER_ACCOUNT} mail.new each (${events.toLocaleString('en')} events)`, `${fmt(withEvents / 2 ** 20)} MiB`, `${fmt((withEvents - withAccounts) / events, 0)} B per event`],
      ],
    ));
  } finally {
    await cleanup.run();
  }
}

await main();
