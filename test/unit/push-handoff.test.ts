// The push hand-off that queues Web Push after each append (roles/worker/append.ts), on the
// embedded (SQLite) adapters: a stopping process must not close the push queue under a push that
// is still on its way in, and a push is queued only after an append that succeeded.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { pino, type Logger } from 'pino';
import type { Adapters } from '../../src/adapters/adapters.js';
import { createEmbeddedAdapters } from '../../src/adapters/embedded.js';
import { hashToken, newId, newToken } from '../../src/core/tokens.js';
import type { NewEvent } from '../../src/core/types.js';
import type { PushJob, PushQueue } from '../../src/push/delivery.js';
import { PushHandoff } from '../../src/push/push-handoff.js';
import { appendThenPush } from '../../src/roles/worker/append.js';
import { waitFor } from '../helpers/wait.js';

/** A push queue that takes jobs only when the test lets it, or refuses them. */
class GatedQueue implements PushQueue {
  readonly jobs: PushJob[] = [];
  /** enqueue() calls that reached the gate. */
  arrived = 0;
  private open!: (error?: Error) => void;
  private readonly gate = new Promise<void>((resolve, reject) => (this.open = (error) => (error ? reject(error) : resolve())));

  constructor() {
    this.gate.catch(() => undefined);
  }

  async enqueue(jobs: PushJob[]): Promise<void> {
    this.arrived++;
    await this.gate;
    this.jobs.push(...jobs);
  }

  release(error?: Error): void {
    this.open(error);
  }

  async depth(): Promise<number> {
    return this.jobs.length;
  }

  async close(): Promise<void> {}
}

let dir: string;
let adapters: Adapters;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mailpush-push-handoff-'));
  adapters = createEmbeddedAdapters({ dataDir: dir, events: { batchSize: 25, retentionCount: 100, retentionMs: 86400_000 } });
});
after(async () => {
  await adapters.close();
  await rm(dir, { recursive: true, force: true });
});

async function subscribedUser(): Promise<string> {
  const userId = await adapters.users.create(hashToken(newToken()));
  const now = new Date().toISOString();
  await adapters.pushSubscriptions.upsert({
    id: newId('sub'), userId, endpoint: `https://push.example.test/${newId('ep')}`, keys: { p256dh: 'p', auth: 'a' },
    expirationTime: null, accounts: [], preview: 'sender', createdAt: now, updatedAt: now,
  }, 20);
  return userId;
}

const newMail = (uid: number): NewEvent => ({
  type: 'mail.new', accountId: 'acc_x', mailbox: 'INBOX', time: new Date().toISOString(),
  data: { uid, uidValidity: '1', messageId: null, from: { name: 'Ann', address: 'ann@example.test' }, subject: 'Hello', date: null, snippet: null, unseen: 1, catchUp: false },
});

function logLines(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write: (chunk, _encoding, done) => (lines.push(JSON.parse(String(chunk))), done()) });
  return { log: pino({ level: 'error' }, sink), lines };
}

test('settled() waits for a push still on its way into the queue, so stopping does not drop it', async () => {
  const userId = await subscribedUser();
  const queue = new GatedQueue();
  const log = new PushHandoff(adapters.pushOutbox, queue, adapters.pushSubscriptions, logLines().log, adapters.devices);
  const lease = (await adapters.leases.acquire({ userId, accountId: 'acc_x' }, 'w1', 60_000))!;
  const appended = await appendThenPush(adapters.eventLog, log, { lease, events: [newMail(7)] });
  assert.ok(appended.ok);

  let settled = false;
  const settling = log.settled().then(() => (settled = true));
  await waitFor(() => queue.arrived === 1, { timeoutMs: 5000, what: 'the push to reach the queue' });
  assert.equal(settled, false, 'settled before the push reached the queue');
  queue.release();
  await settling;
  assert.deepEqual(queue.jobs.map((job) => [job.userId, job.event?.id, job.event?.type]), [[userId, appended.ids[0], 'mail.new']]);
  await log.settled(); // nothing left in flight: resolves at once
});

test('a push the queue refuses is logged, and settled() still resolves', async () => {
  const userId = await subscribedUser();
  const queue = new GatedQueue();
  const { log: logger, lines } = logLines();
  const log = new PushHandoff(adapters.pushOutbox, queue, adapters.pushSubscriptions, logger, adapters.devices);
  const lease = (await adapters.leases.acquire({ userId, accountId: 'acc_x' }, 'w1', 60_000))!;
  assert.ok((await appendThenPush(adapters.eventLog, log, { lease, events: [newMail(8)] })).ok);
  queue.release(new Error('queue connection closed'));
  await log.settled();
  assert.deepEqual(queue.jobs, []);
  assert.deepEqual(lines.map((line) => [line.msg, line.userId, line.err]), [['could not queue push', userId, 'queue connection closed']]);
});

test('nothing is queued for an append that was refused', async () => {
  const userId = await subscribedUser();
  const queue = new GatedQueue();
  queue.release();
  const log = new PushHandoff(adapters.pushOutbox, queue, adapters.pushSubscriptions, logLines().log, adapters.devices);
  const lease = (await adapters.leases.acquire({ userId, accountId: 'acc_x' }, 'w1', 60_000))!;
  await adapters.leases.release(lease);
  assert.deepEqual(await appendThenPush(adapters.eventLog, log, { lease, events: [newMail(9)] }), { ok: false, reason: 'lease_lost' });
  await log.settled();
  assert.deepEqual(queue.jobs, []);
});
