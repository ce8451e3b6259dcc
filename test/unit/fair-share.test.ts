// How workers share accounts without a coordinator (src/roles/worker/account-worker.ts): each
// aims for ceil(accounts / live workers), capped by WORKER_CAPACITY, claims up to it, and sheds
// its newest sessions when more workers join. Run on the embedded adapters (SQLite + in-memory
// leases, workers and control bus); the accounts point at a closed loopback port, so each session
// just keeps reconnecting while the worker holds its lease — no IMAP server needed.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, test } from 'node:test';
import { pino } from 'pino';
import type { Adapters } from '../../src/adapters/adapters.js';
import { createEmbeddedAdapters } from '../../src/adapters/embedded.js';
import { loadConfig } from '../../src/config.js';
import { SecretBox } from '../../src/core/secret-box.js';
import { hashToken, newId, newToken } from '../../src/core/tokens.js';
import type { AccountRecord } from '../../src/core/types.js';
import { AccountWorker } from '../../src/roles/worker/account-worker.js';
import { waitFor } from '../helpers/wait.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(accountCount: number, env: Record<string, string> = {}) {
  const dir = await mkdtemp(path.join(tmpdir(), 'mailpush-fair-share-'));
  const config = loadConfig({
    DATA_DIR: dir, MAILPUSH_SECRET: 'fair-share-secret-long-enough-for-32-characters', IMAP_ALLOW_PRIVATE: 'true', IMAP_ALLOW_INSECURE: 'true',
    // Long enough that no timer scans or renews during a test: only what the test does moves anything.
    LEASE_TTL_MS: '60000', LOG_LEVEL: 'silent', ...env,
  });
  const adapters: Adapters = createEmbeddedAdapters(config);
  cleanups.push(async () => {
    await adapters.close();
    await rm(dir, { recursive: true, force: true });
  });
  const box = new SecretBox(config.secret);
  const refs = [];
  for (let i = 0; i < accountCount; i++) {
    const userId = await adapters.users.create(hashToken(newToken()));
    const accountId = newId('acc');
    const now = new Date().toISOString();
    const record: AccountRecord = {
      userId, accountId, email: `u${i}@example.test`, imap: { host: '127.0.0.1', port: 1, security: 'none', user: `u${i}` },
      sealedPassword: box.seal('pw', accountId), mailboxes: ['INBOX'], disabled: false, state: 'connecting', createdAt: now, updatedAt: now,
    };
    assert.equal(await adapters.accounts.create(record, `u${i}`), 'created');
    refs.push({ userId, accountId });
  }
  const startWorker = async () => {
    const worker = new AccountWorker(adapters, config, pino({ level: 'silent' }));
    await worker.start();
    cleanups.push(() => worker.stop());
    return worker;
  };
  /** Another worker's heartbeat, as if it were running in another process. */
  const otherWorker = (workerId: string) =>
    adapters.workers.heartbeat({ workerId, host: 'elsewhere', pid: 1, startedAt: new Date().toISOString(), accounts: 0, capacity: 10_000, seenAt: Date.now() });
  return { adapters, refs, startWorker, otherWorker };
}

test('a lone worker takes every account', async () => {
  const { startWorker } = await setup(5);
  const worker = await startWorker();
  assert.equal(worker.heldAccounts().length, 5);
});

test('with another live worker it takes its even share, rounded up', async () => {
  const { startWorker, otherWorker } = await setup(5);
  await otherWorker('wrk_other');
  const worker = await startWorker();
  assert.equal(worker.heldAccounts().length, 3, 'ceil(5 / 2)');
});

test('WORKER_CAPACITY caps the share', async () => {
  const { startWorker } = await setup(5, { WORKER_CAPACITY: '2' });
  const worker = await startWorker();
  assert.equal(worker.heldAccounts().length, 2);
});

test('when workers join, a rebalance sheds the newest sessions and releases their leases', async () => {
  const { adapters, startWorker, otherWorker } = await setup(6);
  const worker = await startWorker();
  const claimed = worker.heldAccounts();
  assert.equal(claimed.length, 6);

  await otherWorker('wrk_second');
  await otherWorker('wrk_third');
  await adapters.control.publish({ kind: 'rebalance', from: 'wrk_third' });
  await waitFor(() => worker.heldAccounts().length === 2, { timeoutMs: 5000, what: 'the worker to shed down to ceil(6 / 3)' });
  assert.deepEqual(worker.heldAccounts(), claimed.slice(0, 2), 'the longest-held stay');
  for (const ref of claimed.slice(2)) assert.equal(await adapters.leases.holder(ref), undefined, `${ref.accountId} released for the others`);
  for (const ref of claimed.slice(0, 2)) assert.equal(await adapters.leases.holder(ref), worker.workerId);
});
