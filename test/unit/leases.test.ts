// Lease expiry on the in-memory lease manager (the embedded mode's; the Redis one keeps the same
// contract, see adapter-conformance): a lease nobody renews runs out, and whoever held it can
// then neither renew nor release what another worker acquired after it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryLeaseManager, MemoryWorkerRegistry } from '../../src/adapters/memory/leases.js';
import { waitFor } from '../helpers/wait.js';

const ref = { userId: 'usr_a', accountId: 'acc_a' };

test('a held lease is not handed out twice; one nobody renews expires and goes to the next worker with a higher fence', async () => {
  const leases = new MemoryLeaseManager();
  const first = await leases.acquire(ref, 'w1', 100);
  assert.ok(first);
  assert.equal(await leases.acquire(ref, 'w2', 60_000), undefined, 'held: refused');
  assert.equal(await leases.holder(ref), 'w1');

  // Not renewed: it runs out by itself, and the other worker gets it.
  const second = await waitFor(() => leases.acquire(ref, 'w2', 60_000), { timeoutMs: 5000, what: 'the lease to expire' });
  assert.equal(second.workerId, 'w2');
  assert.ok(second.fence > first.fence, 'the fence grows, so the old holder cannot write');
  assert.equal(await leases.holder(ref), 'w2');
  assert.equal(leases.holds(first), false);
  assert.deepEqual(await leases.renew([first, second], 60_000), [false, true], 'the old holder cannot renew');
  await leases.release(first);
  assert.equal(await leases.holder(ref), 'w2', 'nor release the new holder\'s lease');
  await leases.release(second);
  assert.equal(await leases.holder(ref), undefined);
});

test('renewing keeps a lease past its first expiry', async () => {
  const leases = new MemoryLeaseManager();
  const acquiredAt = Date.now();
  const lease = (await leases.acquire(ref, 'w1', 100))!;
  assert.deepEqual(await leases.renew([lease], 60_000), [true]);
  // Time itself is the condition here: past the first expiry.
  await waitFor(() => Date.now() > acquiredAt + 200, { timeoutMs: 5000, what: 'the first expiry to pass' });
  assert.equal(await leases.holder(ref), 'w1');
  assert.equal(await leases.acquire(ref, 'w2', 100), undefined);
});

test('a worker whose heartbeat is older than the window is no longer counted as live', async () => {
  const workers = new MemoryWorkerRegistry();
  const now = Date.now();
  const info = (workerId: string, seenAt: number) => ({ workerId, host: 'h', pid: 1, startedAt: new Date(seenAt).toISOString(), accounts: 0, capacity: 10, seenAt });
  await workers.heartbeat(info('w2', now));
  await workers.heartbeat(info('w1', now - 10_000));
  assert.deepEqual((await workers.live(60_000)).map((w) => w.workerId), ['w1', 'w2']);
  assert.deepEqual((await workers.live(5_000)).map((w) => w.workerId), ['w2']);
  await workers.remove('w2');
  assert.deepEqual((await workers.live(60_000)).map((w) => w.workerId), ['w1'], 'a stopped worker is gone at once');
});
