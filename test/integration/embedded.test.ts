// The embedded default: no Redis, one process, everything under DATA_DIR. A restart finds every
// user, account, subscription and event again, and notifies only mail that is new; a notification's
// "Mark as read" and "Delete" reach Dovecot through the in-process worker.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Dovecot } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import { buildMessage } from '../helpers/message.js';
import { startPushService } from '../helpers/push-service.js';
import { api, openReadyStream, registerWatched, startTestGateway, StreamRecorder } from '../helpers/gateway.js';

let dovecot: Dovecot;
let dataDir: string;

const fixtures = useFixtures();

before(async () => {
  dovecot = await fixtures.dovecot();
  dataDir = await fixtures.start('data dir', mkdtemp(path.join(tmpdir(), 'mailpush-data-')), (dir) => rm(dir, { recursive: true, force: true }));
});

test('an embedded gateway keeps everything across a restart and notifies each mail once; mark read and delete work without Redis', async () => {
  const first = await startTestGateway({ dataDir, imapPort: dovecot.imapPort, env: { PUSH_ALLOW_PRIVATE_ENDPOINTS: 'true' } });
  assert.equal(first.config.redisUrl, undefined);
  assert.equal((await stat(dataDir)).mode & 0o777, 0o700, 'the data folder is private');
  for (const file of ['secret', 'vapid.json', 'mailpush.sqlite']) {
    assert.equal((await stat(path.join(dataDir, file))).mode & 0o777, 0o600, `${file} is private`);
  }
  assert.ok(first.logs.some((l) => l.includes('first start: generated MAILPUSH_SECRET')), 'said so in one log line');
  const { user, token, accountId } = await registerWatched(first.url!, dovecot);
  const publicKey = (await api(first.url!, 'GET', '/v1/push/vapid-public-key')).body.publicKey;
  const push = await startPushService();
  try {
    const sub = await api(first.url!, 'POST', '/v1/push/subscriptions', { token, body: { subscription: push.subscribe('embedded') } });
    assert.equal(sub.status, 201);
    const stream = await openReadyStream(first.url!, token);
    await dovecot.deliver(user.email, buildMessage({ from: { address: 'a@example.test' }, to: user.email, subject: 'before restart' }));
    const before = await stream.waitFor((m) => m.type === 'mail.new', 10_000, 'mail before restart');
    stream.close();
    await first.stop();

    await dovecot.deliver(user.email, buildMessage({ from: { address: 'a@example.test' }, to: user.email, subject: 'while stopped' }));
    const second = await startTestGateway({ dataDir, imapPort: dovecot.imapPort });
    try {
      assert.equal(second.logs.some((l) => l.includes('first start')), false, 'secrets are reused, not regenerated');
      assert.equal((await api(second.url!, 'GET', '/v1/push/vapid-public-key')).body.publicKey, publicKey);
      const accounts = await api(second.url!, 'GET', '/v1/accounts', { token });
      assert.equal(accounts.status, 200, 'the token still works');
      assert.deepEqual(accounts.body.accounts.map((a: { id: string }) => a.id), [accountId]);
      assert.equal((await api(second.url!, 'GET', '/v1/push/subscriptions', { token })).body.subscriptions.length, 1);
      const resumed = StreamRecorder.open(second.url!, { token, since: before.id });
      const caught = await resumed.waitFor((m) => m.type === 'mail.new', 15_000, 'catch-up after restart');
      assert.equal(caught.data.subject, 'while stopped');
      assert.equal(caught.data.catchUp, true);
      // A sentinel after the case: had the old mail been notified again, it would have come before this.
      await dovecot.deliver(user.email, buildMessage({ from: { address: 'a@example.test' }, to: user.email, subject: 'sentinel' }));
      await resumed.waitFor((m) => m.type === 'mail.new' && m.data.subject === 'sentinel', 10_000, 'the sentinel');
      assert.deepEqual(resumed.events('mail.new').map((e) => e.data.uid), [2, 3], 'the old mail is not notified again');
      // A notification's buttons without Redis: the command reaches the worker in this process
      // (the memory MailboxCommands), which acts in Dovecot; its watcher reports the change.
      const sentinel = resumed.events('mail.new').at(-1)!.data;
      const act = (action: string) => api(second.url!, 'POST', `/v1/accounts/${accountId}/messages/${sentinel.uid}/actions`, { token, body: { action, uidValidity: Number(sentinel.uidValidity) } });
      assert.deepEqual((await act('seen')).body, { action: 'seen', uid: sentinel.uid, outcome: 'seen' });
      await resumed.waitFor((m) => m.type === 'mail.flags' && m.data.uid === sentinel.uid && m.data.seen, 10_000, 'mail.flags from the server');
      assert.deepEqual((await act('delete')).body, { action: 'delete', uid: sentinel.uid, outcome: 'expunged' }, 'no Trash here: expunged');
      await resumed.waitFor((m) => m.type === 'mail.expunged' && m.data.uids.includes(sentinel.uid), 10_000, 'mail.expunged from the server');
      resumed.close();
    } finally {
      await second.stop();
    }
  } finally {
    await first.stop(); // already stopped on success; a failed assertion must not leave it running
    await push.close();
  }
});

test('only `mailpush all` runs without Redis', async () => {
  await assert.rejects(startTestGateway({ role: 'web', dataDir, imapPort: dovecot.imapPort }), /needs REDIS_URL/);
});
