// One suite, three setups: the Redis adapters on one Redis, the same adapters on a real Redis
// Cluster (three primaries: a script or multi-key command whose keys span slots is refused there
// with CROSSSLOT, a pipeline across nodes is refused by the client, so every case that passes
// proves its commands stay in one slot), and the embedded (SQLite + memory) adapters must keep
// the same contract, case for case.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Adapters } from '../../src/adapters/adapters.js';
import { createEmbeddedAdapters } from '../../src/adapters/embedded.js';
import { openDatabase } from '../../src/adapters/sqlite/database.js';
import { createRedisAdapters } from '../../src/adapters/redis/index.js';
import { isCluster, type RedisClient } from '../../src/adapters/redis/connection.js';
import type { ControlMessage, Lease, MailHint, PushSubscriptionRecord, Watermark } from '../../src/core/ports.js';
import { hashToken, newId, newToken } from '../../src/core/tokens.js';
import type { QuietHours } from '../../src/protocol/quiet-hours.js';
import type { LiveEvent } from '../../src/core/live-event.js';
import type { AccountRecord, MailEvent, NewEvent } from '../../src/core/types.js';
import type { MailboxCommand, MailboxReply } from '../../src/core/mailbox-command.js';
import { useFixtures } from '../helpers/fixtures.js';
import type { RedisServer } from '../helpers/redis.js';
import type { RedisCluster } from '../helpers/redis-cluster.js';
import { waitFor } from '../helpers/wait.js';

const events = { batchSize: 25, retentionCount: 10, retentionMs: 7 * 86400_000 };

function account(userId: string): AccountRecord {
  const now = new Date().toISOString();
  return {
    userId, accountId: newId('acc'), email: 'a@example.test', imap: { host: 'imap.example.test', port: 993, security: 'tls', user: 'a' },
    sealedPassword: 'v1.x.y.z', mailboxes: ['INBOX'], disabled: false, state: 'connecting', createdAt: now, updatedAt: now,
  };
}

const note = (n: number): NewEvent => ({ type: 'account.state', accountId: 'acc_x', mailbox: null, time: new Date().toISOString(), data: { state: 'idle', error: String(n) } });

/** KEYS on every primary: on a cluster each node answers for its own slots only. */
async function keysEverywhere(redis: RedisClient, pattern: string): Promise<string[]> {
  const nodes = isCluster(redis) ? redis.nodes('master') : [redis];
  return (await Promise.all(nodes.map((node) => node.keys(pattern)))).flat();
}

function conformance(name: string, setup: () => Promise<{ adapters: Adapters; teardown(): Promise<void> }>) {
  describe(name, () => {
    let adapters: Adapters;
    let teardown: (() => Promise<void>) | undefined;
    before(async () => ({ adapters, teardown } = await setup()));
    after(() => teardown?.());

    const user = async () => adapters.users.create(hashToken(newToken()));
    const lease = async (userId: string, accountId = 'acc_x'): Promise<Lease> => (await adapters.leases.acquire({ userId, accountId }, 'w1', 60_000))!;

    test('users are found by token hash only', async () => {
      const token = newToken();
      const userId = await adapters.users.create(hashToken(token));
      assert.equal(await adapters.users.findByToken(hashToken(token)), userId);
      assert.equal(await adapters.users.findByToken(hashToken(newToken())), undefined);
    });

    test('accounts: an OAuth account keeps its provider, and its sealed grant is replaced in one update', async () => {
      const userId = await user();
      const record: AccountRecord = { ...account(userId), auth: 'oauth2', provider: 'google', sealedPassword: 'v1.grant.1' };
      assert.equal(await adapters.accounts.create(record, `oauth-${record.accountId}`), 'created');
      assert.deepEqual(await adapters.accounts.get(record), record);
      const updated = await adapters.accounts.update(record, { sealedPassword: 'v1.grant.2' });
      assert.deepEqual([updated?.auth, updated?.provider, updated?.sealedPassword], ['oauth2', 'google', 'v1.grant.2']);
      const plain = account(userId);
      await adapters.accounts.create(plain, `plain-${plain.accountId}`);
      assert.equal((await adapters.accounts.get(plain))?.auth, undefined, 'a password account has no auth field');
    });

    test('accounts: a webmail URL template is kept, replaced and removed (null)', async () => {
      const record = account(await user());
      await adapters.accounts.create(record, `webmail-${record.accountId}`);
      assert.equal((await adapters.accounts.update(record, { webmailUrl: 'https://mail.example.test/#{mailbox}/{uid}' }))?.webmailUrl, 'https://mail.example.test/#{mailbox}/{uid}');
      assert.equal((await adapters.accounts.get(record))?.webmailUrl, 'https://mail.example.test/#{mailbox}/{uid}');
      const removed = await adapters.accounts.update(record, { webmailUrl: null });
      assert.ok(removed && !('webmailUrl' in removed), 'removed, not kept as null');
      assert.deepEqual(await adapters.accounts.get(record), removed);
    });

    test('accounts: create once per identity, read, update, state, scan, delete', async () => {
      const userId = await user();
      const record = account(userId);
      assert.equal(await adapters.accounts.create(record, 'id-1'), 'created');
      assert.equal(await adapters.accounts.create(account(userId), 'id-1'), 'exists');
      assert.deepEqual(await adapters.accounts.findMailbox('id-1'), { userId, accountId: record.accountId });
      // One mailbox, one account gateway-wide: another user cannot register it either.
      assert.equal(await adapters.accounts.create(account(await user()), 'id-1'), 'exists');
      assert.deepEqual(await adapters.accounts.get(record), record);
      assert.equal(await adapters.accounts.get({ userId: 'usr_other', accountId: record.accountId }), undefined);
      const updated = await adapters.accounts.update(record, { mailboxes: ['INBOX', 'Work'], disabled: true });
      assert.deepEqual([updated?.mailboxes, updated?.disabled], [['INBOX', 'Work'], true]);
      await adapters.accounts.setState(record, { state: 'auth_failed', lastError: 'nope', unseen: 4 });
      const failed = await adapters.accounts.get(record);
      assert.deepEqual([failed?.state, failed?.lastError, failed?.unseen], ['auth_failed', 'nope', 4]);
      await adapters.accounts.setState(record, { state: 'idle', lastError: null });
      assert.equal((await adapters.accounts.get(record))?.lastError, undefined);
      assert.deepEqual((await adapters.accounts.listForUser(userId)).map((a) => a.accountId), [record.accountId]);
      const seen: string[] = [];
      let cursor = '0';
      do {
        const page = await adapters.accounts.scan(cursor);
        cursor = page.cursor;
        seen.push(...page.refs.map((r) => r.accountId));
      } while (cursor !== '0');
      assert.ok(seen.includes(record.accountId));
      assert.ok((await adapters.accounts.count()) >= 1);
      assert.equal(await adapters.accounts.delete(record), true);
      assert.equal(await adapters.accounts.delete(record), false);
      await adapters.accounts.setState(record, { state: 'idle' });
      assert.equal(await adapters.accounts.get(record), undefined, 'a state write never brings an account back');
      assert.equal(await adapters.accounts.create(account(userId), 'id-1'), 'created', 'the identity is free again');
    });

    test('devices: a token per device; list, rename, touch, delete (its token stops at once)', async () => {
      const firstToken = newToken();
      const userId = await adapters.users.create(hashToken(firstToken), 'Laptop');
      const first = (await adapters.devices.findByToken(hashToken(firstToken)))!;
      assert.deepEqual([first.userId, first.name, first.tokenHash], [userId, 'Laptop', hashToken(firstToken)]);
      const secondToken = newToken();
      const second = (await adapters.devices.add(userId, hashToken(secondToken), 'Phone'))!;
      assert.equal(await adapters.users.findByToken(hashToken(secondToken)), userId);
      assert.deepEqual((await adapters.devices.list(userId)).map((d) => d.name), ['Laptop', 'Phone']);
      assert.equal((await adapters.devices.rename(userId, second.id, 'My phone'))?.name, 'My phone');
      assert.equal(await adapters.devices.rename('usr_other', second.id, 'x'), undefined, 'another user cannot rename it');
      await adapters.devices.touch(userId, second.id, '2030-01-01T00:00:00.000Z');
      assert.equal((await adapters.devices.findByToken(hashToken(secondToken)))?.lastSeenAt, '2030-01-01T00:00:00.000Z');
      assert.equal(await adapters.devices.delete('usr_other', second.id), false);
      assert.equal(await adapters.devices.delete(userId, second.id), true);
      assert.equal(await adapters.devices.findByToken(hashToken(secondToken)), undefined);
      assert.equal(await adapters.devices.delete(userId, second.id), false);
      await adapters.devices.touch(userId, second.id, new Date().toISOString());
      assert.deepEqual((await adapters.devices.list(userId)).map((d) => d.id), [first.id], 'a touch never brings a device back');
      assert.equal(await adapters.devices.add('usr_missing', hashToken(newToken()), 'x'), undefined, 'no device for a user that does not exist');
    });

    test('quiet hours: per device, replaced whole, only for the user\'s own devices, gone with the device', async () => {
      const userId = await user();
      const laptop = (await adapters.devices.list(userId))[0]!;
      const phone = (await adapters.devices.add(userId, hashToken(newToken()), 'Phone'))!;
      assert.deepEqual(await adapters.devices.quietHours(userId), new Map(), 'none set');
      const night: QuietHours = { enabled: true, start: '22:30', end: '06:45', timeZone: 'Asia/Tokyo', vips: ['boss@example.test'], pausedUntil: null };
      assert.equal(await adapters.devices.setQuietHours(userId, phone.id, night), true);
      assert.deepEqual(await adapters.devices.quietHours(userId), new Map([[phone.id, night]]));
      const paused: QuietHours = { ...night, enabled: false, vips: [], pausedUntil: '2030-01-01T07:00:00.000Z' };
      assert.equal(await adapters.devices.setQuietHours(userId, phone.id, paused), true);
      assert.deepEqual(await adapters.devices.quietHours(userId), new Map([[phone.id, paused]]), 'the second save replaces the first');
      assert.equal(await adapters.devices.setQuietHours(await user(), phone.id, night), false, 'another user\'s device');
      assert.equal(await adapters.devices.setQuietHours(userId, 'dev_missing', night), false, 'no such device');
      assert.deepEqual([...(await adapters.devices.quietHours(userId)).keys()], [phone.id], 'nothing stored for a refused save');
      assert.equal(await adapters.devices.delete(userId, phone.id), true);
      assert.deepEqual(await adapters.devices.quietHours(userId), new Map(), 'removed with its device');
      assert.equal(await adapters.devices.setQuietHours(userId, phone.id, night), false, 'a removed device gets none back');
      assert.equal(await adapters.devices.setQuietHours(userId, laptop.id, night), true);
    });

    test('OAuth flow records: taken once, per kind, not after expiry', async () => {
      const key = hashToken(newToken());
      await adapters.oauthFlows.put('state', key, '{"provider":"test"}', Date.now() + 60_000);
      assert.equal(await adapters.oauthFlows.take('handoff', key, Date.now()), undefined, 'a state is no handoff');
      assert.equal(await adapters.oauthFlows.take('state', key, Date.now()), '{"provider":"test"}');
      assert.equal(await adapters.oauthFlows.take('state', key, Date.now()), undefined, 'single use');
      assert.equal(await adapters.oauthFlows.take('state', hashToken(newToken()), Date.now()), undefined, 'unknown');
      const shortLived = hashToken(newToken());
      const expiresAt = Date.now() + 300;
      await adapters.oauthFlows.put('handoff', shortLived, 'x', expiresAt);
      // Polling take() would use the record up; wait for the clock instead, then take it once.
      await waitFor(() => Date.now() > expiresAt + 100, { timeoutMs: 5000, what: 'the handoff to expire' });
      assert.equal(await adapters.oauthFlows.take('handoff', shortLived, Date.now()), undefined, 'expired');
    });

    test('pairing codes: claimed once, not after expiry, unknown ones never', async () => {
      const userId = await user();
      const code = newId('code');
      await adapters.pairings.create(userId, code, Date.now() + 60_000);
      assert.equal(await adapters.pairings.claim(code, Date.now()), userId);
      assert.equal(await adapters.pairings.claim(code, Date.now()), undefined, 'single use');
      assert.equal(await adapters.pairings.claim(newId('code'), Date.now()), undefined);
      const shortLived = newId('code');
      await adapters.pairings.create(userId, shortLived, Date.now() + 300);
      await waitFor(async () => (await adapters.pairings.claim(shortLived, Date.now())) === undefined, { timeoutMs: 5000, what: 'the code to expire' });
    });

    test('attempt counters: per kind and client, for one window', async () => {
      const client = newId('ip');
      assert.equal(await adapters.attempts.count('pairing', client), 0);
      assert.equal(await adapters.attempts.record('pairing', client, 400), 1);
      assert.equal(await adapters.attempts.record('pairing', client, 400), 2);
      assert.equal(await adapters.attempts.count('pairing', client), 2);
      assert.equal(await adapters.attempts.count('other', client), 0);
      assert.equal(await adapters.attempts.count('pairing', newId('ip')), 0);
      await waitFor(async () => (await adapters.attempts.count('pairing', client)) === 0, { timeoutMs: 5000, what: 'the window to end' });
      assert.equal(await adapters.attempts.record('pairing', client, 400), 1, 'a new window starts at one');
    });

    test('deleting a user erases its devices, accounts, mailboxes, subscriptions, events and codes', async () => {
      const token = newToken();
      const userId = await adapters.users.create(hashToken(token));
      const record = account(userId);
      const identity = newId('mailbox');
      assert.equal(await adapters.accounts.create(record, identity), 'created');
      const now = new Date().toISOString();
      await adapters.pushSubscriptions.upsert({ id: newId('sub'), userId, endpoint: 'https://push.example.test/x', keys: { p256dh: 'p', auth: 'a' }, expirationTime: null, accounts: [], preview: 'sender', createdAt: now, updatedAt: now }, 10);
      const held = (await adapters.leases.acquire(record, 'w1', 60_000))!;
      assert.ok((await adapters.eventLog.append({ lease: held, events: [note(1)] })).ok);
      const code = newId('code');
      await adapters.pairings.create(userId, code, Date.now() + 60_000);
      const [device] = await adapters.devices.list(userId);
      await adapters.devices.setQuietHours(userId, device!.id, { enabled: true, start: '22:00', end: '07:00', timeZone: 'UTC', vips: [], pausedUntil: null });

      assert.equal(await adapters.users.exists(userId), true);
      assert.equal(await adapters.users.exists(newId('usr')), false, 'a user never created');
      assert.equal(await adapters.users.delete(userId), true);
      assert.equal(await adapters.users.exists(userId), false, 'a deleted user');
      assert.equal(await adapters.users.findByToken(hashToken(token)), undefined);
      assert.deepEqual(await adapters.devices.list(userId), []);
      assert.deepEqual(await adapters.devices.quietHours(userId), new Map());
      assert.deepEqual(await adapters.accounts.listForUser(userId), []);
      assert.equal(await adapters.accounts.findMailbox(identity), undefined, 'the mailbox can be registered again');
      assert.deepEqual(await adapters.pushSubscriptions.list(userId), []);
      assert.deepEqual(await adapters.eventLog.read(userId, undefined, 10), []);
      assert.equal(await adapters.pairings.claim(code, Date.now()), undefined);
      assert.equal(await adapters.users.delete(userId), false);
      if (adapters.redis) {
        const left = await keysEverywhere(adapters.redis, `*{u:${userId}}*`);
        assert.deepEqual(left, [], 'no key under the user\'s hash tag');
      }
    });

    test('leases: one holder, renew, release, fence grows', async () => {
      const ref = { userId: await user(), accountId: 'acc_lease' };
      const first = (await adapters.leases.acquire(ref, 'w1', 60_000))!;
      assert.ok(first);
      assert.equal(await adapters.leases.acquire(ref, 'w2', 60_000), undefined);
      assert.equal(await adapters.leases.holder(ref), 'w1');
      const other = (await adapters.leases.acquire({ userId: ref.userId, accountId: 'acc_other' }, 'w1', 60_000))!;
      assert.deepEqual(await adapters.leases.renew([first, other], 60_000), [true, true]);
      await adapters.leases.release(first);
      assert.deepEqual(await adapters.leases.renew([first, other], 60_000), [false, true], 'each lease answers for itself');
      assert.deepEqual(await adapters.leases.renew([], 60_000), []);
      const second = (await adapters.leases.acquire(ref, 'w2', 60_000))!;
      assert.ok(second.fence > first.fence);
      await adapters.leases.release(first); // not the holder: changes nothing
      assert.equal(await adapters.leases.holder(ref), 'w2');
    });

    test('leases of many users (many slots, on a cluster every node) renew in one call, each answering for itself', async () => {
      const held = await Promise.all(Array.from({ length: 40 }, async () => lease(await user(), 'acc_many')));
      await adapters.leases.release(held[7]!);
      const renewed = await adapters.leases.renew(held, 60_000);
      assert.deepEqual(renewed, held.map((_, i) => i !== 7));
    });

    test('live feed: each user hears its own events only, for users all over the key space', async () => {
      const users = await Promise.all(Array.from({ length: 12 }, () => user()));
      const heard = new Map<string, string[]>(users.map((userId) => [userId, []]));
      const stops = await Promise.all(users.map((userId) => adapters.liveFeed.subscribe(userId, (e) => heard.get(userId)!.push(e.id))));
      const appended = new Map<string, string[]>();
      for (const userId of users) {
        const result = await adapters.eventLog.append({ lease: await lease(userId), events: [note(1), note(2)] });
        assert.ok(result.ok);
        appended.set(userId, result.ids);
      }
      await waitFor(() => users.every((userId) => heard.get(userId)!.length >= 2), { timeoutMs: 5000, what: 'every user\'s live events' });
      for (const userId of users) assert.deepEqual(heard.get(userId), appended.get(userId));
      await Promise.all(stops.map((stop) => stop()));
    });

    test('event log: watermark moves with the append, fenced by the lease; ids increase; live feed hears it', async () => {
      const userId = await user();
      const held = await lease(userId);
      const heard: LiveEvent[] = [];
      const unsubscribe = await adapters.liveFeed.subscribe(userId, (e) => heard.push(e));
      const wm = { uidValidity: '7', lastUid: 3 };
      const first = await adapters.eventLog.append({ lease: held, events: [note(1), note(2)], watermark: { mailbox: 'INBOX', expected: undefined, next: wm } });
      assert.ok(first.ok);
      assert.deepEqual(await adapters.eventLog.watermark(held, 'INBOX'), wm);
      const stale = await adapters.eventLog.append({ lease: held, events: [note(3)], watermark: { mailbox: 'INBOX', expected: undefined, next: wm } });
      assert.deepEqual(stale, { ok: false, reason: 'watermark_moved' });
      await adapters.leases.release(held);
      const fenced = await adapters.eventLog.append({ lease: held, events: [note(4)] });
      assert.deepEqual(fenced, { ok: false, reason: 'lease_lost' });
      const all = await adapters.eventLog.read(userId, undefined, 100);
      assert.deepEqual(all.map((e) => (e.data as { error: string }).error), ['1', '2'], 'refused appends left nothing');
      assert.deepEqual(all.map((e) => e.id), first.ok ? first.ids : []);
      assert.deepEqual((await adapters.eventLog.read(userId, all[0]!.id, 100)).map((e) => e.id), [all[1]!.id]);
      assert.equal(await adapters.eventLog.latestId(userId), all[1]!.id);
      await waitFor(() => heard.length === 2, { timeoutMs: 2000, what: 'live events' });
      assert.deepEqual(heard.map((e) => e.id), all.map((e) => e.id));
      // What sockets are sent: each event whole, id included, exactly as the log returns it.
      const text = (e: LiveEvent) => (typeof e.json === 'string' ? e.json : Buffer.from(e.json).toString('utf8'));
      assert.deepEqual(heard.map((e) => JSON.parse(text(e))), all);
      assert.deepEqual(heard.map((e) => [e.type, e.time, e.catchUp]), all.map((e) => [e.type, Date.parse(e.time), false]));
      // A catch-up mail.new says so without being parsed (metrics skip it); a live one does not.
      const mail = (catchUp: boolean): NewEvent => ({
        type: 'mail.new', accountId: 'acc_x', mailbox: 'Ünïcode "box"', time: new Date().toISOString(),
        data: { uid: 9, uidValidity: '7', messageId: null, from: { name: 'Zoë', address: 'z@example.test' }, subject: '日本語 🎉', date: null, snippet: null, unseen: 1, catchUp },
      });
      const again = await lease(userId);
      assert.ok((await adapters.eventLog.append({ lease: again, events: [mail(true), mail(false)] })).ok);
      await waitFor(() => heard.length === 4, { timeoutMs: 2000, what: 'live mail.new' });
      assert.deepEqual(heard.slice(2).map((e) => [e.type, e.catchUp]), [['mail.new', true], ['mail.new', false]]);
      assert.deepEqual(heard.slice(2).map((e) => JSON.parse(text(e))), (await adapters.eventLog.read(userId, all[1]!.id, 100)));
      await unsubscribe();
    });

    test('event log: retention trims the oldest and says so', async () => {
      const userId = await user();
      const held = await lease(userId);
      const ids: string[] = [];
      for (let i = 0; i < 30; i++) {
        const result = await adapters.eventLog.append({ lease: held, events: [note(i)] });
        if (result.ok) ids.push(...result.ids);
      }
      // Redis trims approximately (whole stream nodes); both keep at least the configured count.
      const kept = await adapters.eventLog.read(userId, undefined, 1000);
      assert.ok(kept.length >= 10);
      assert.deepEqual(kept.map((e) => e.id), ids.slice(-kept.length));
      assert.equal(await adapters.eventLog.isTrimmedAfter(userId, ids.at(-1)!), false);
      if (kept.length < 30) assert.equal(await adapters.eventLog.isTrimmedAfter(userId, ids[0]!), true);
    });

    test('push subscriptions: one per endpoint, limit, delete', async () => {
      const userId = await user();
      const now = new Date().toISOString();
      const sub = (endpoint: string) => ({ id: newId('sub'), userId, endpoint, keys: { p256dh: 'p', auth: 'a' }, expirationTime: null, accounts: [], preview: 'sender' as const, createdAt: now, updatedAt: now });
      const first = await adapters.pushSubscriptions.upsert(sub('https://push.example/1'), 2);
      assert.ok(first !== 'limit' && first.created);
      const again = await adapters.pushSubscriptions.upsert({ ...sub('https://push.example/1'), preview: 'full' }, 2);
      assert.ok(again !== 'limit' && !again.created && again.record.id === first.record.id && again.record.preview === 'full');
      assert.ok((await adapters.pushSubscriptions.upsert(sub('https://push.example/2'), 2)) !== 'limit');
      assert.equal(await adapters.pushSubscriptions.upsert(sub('https://push.example/3'), 2), 'limit');
      assert.equal((await adapters.pushSubscriptions.list(userId)).length, 2);
      assert.equal(await adapters.pushSubscriptions.delete(userId, first.record.id), true);
      assert.equal(await adapters.pushSubscriptions.get(userId, first.record.id), undefined);
      assert.ok((await adapters.pushSubscriptions.upsert(sub('https://push.example/3'), 2)) !== 'limit');
    });

    const subscribe = async (userId: string) => {
      const now = new Date().toISOString();
      await adapters.pushSubscriptions.upsert({
        id: newId('sub'), userId, endpoint: `https://push.example.test/${newId('ep')}`, keys: { p256dh: 'p', auth: 'a' },
        expirationTime: null, accounts: [], preview: 'sender', createdAt: now, updatedAt: now,
      }, 20);
    };
    const mail = (accountId: string, uid: number, subject: string): NewEvent => ({
      type: 'mail.new', accountId, mailbox: 'INBOX', time: new Date().toISOString(),
      data: { uid, uidValidity: '1', messageId: null, from: { name: 'Ann', address: 'ann@example.test' }, subject, date: null, snippet: null, unseen: 1, catchUp: false },
    });
    const subjects = (events: Array<{ data: unknown }>) => events.map((e) => (e.data as { subject: string }).subject);

    test('push outbox: the append records pushable events of users with subscriptions, per account, until marked queued', async () => {
      const withPush = await user();
      const without = await user();
      await subscribe(withPush);
      for (const userId of [withPush, without]) {
        const a = { userId, accountId: 'acc_a' };
        const appended = await adapters.eventLog.append({ lease: await lease(userId, 'acc_a'), events: [mail('acc_a', 1, 'one'), note(1), mail('acc_a', 2, 'two')], pushable: [true, false, true] });
        assert.ok(appended.ok);
        assert.equal((await adapters.eventLog.read(userId, undefined, 10)).length, 3, 'the append itself is unchanged');
        assert.ok((await adapters.eventLog.append({ lease: await lease(userId, 'acc_b'), events: [mail('acc_b', 1, 'other')], pushable: [true] })).ok);
        const pending = await adapters.pushOutbox.pending(a);
        if (!adapters.pushOutbox.durable || userId === without) {
          assert.deepEqual(pending, [], adapters.pushOutbox.durable ? 'no subscriptions, nothing pending' : 'an outbox that keeps nothing');
          await adapters.pushOutbox.markQueued(a, appended.ids); // harmless
          continue;
        }
        assert.deepEqual(pending.map((e) => e.id), [appended.ids[0], appended.ids[2]], 'oldest first, pushable only, this account only');
        assert.deepEqual(subjects(pending), ['one', 'two']);
        assert.deepEqual(pending, (await adapters.eventLog.read(userId, undefined, 10)).filter((e) => e.type === 'mail.new' && e.accountId === 'acc_a'), 'the events as the log has them');
        await adapters.pushOutbox.markQueued(a, [appended.ids[0]!, 'unknown-0']);
        assert.deepEqual((await adapters.pushOutbox.pending(a)).map((e) => e.id), [appended.ids[2]]);
        assert.deepEqual(subjects(await adapters.pushOutbox.pending({ userId, accountId: 'acc_b' })), ['other']);
        await adapters.pushOutbox.markQueued(a, [appended.ids[2]!]);
        assert.deepEqual(await adapters.pushOutbox.pending(a), []);
      }
    });

    test('push outbox: an append without pushable, or refused, records nothing; retention drops what it trims', async () => {
      const userId = await user();
      await subscribe(userId);
      const ref = { userId, accountId: 'acc_r' };
      const held = await lease(userId, 'acc_r');
      assert.ok((await adapters.eventLog.append({ lease: held, events: [mail('acc_r', 1, 'silent')] })).ok);
      assert.deepEqual(await adapters.pushOutbox.pending(ref), [], 'no pushable flags: nothing pending');
      await adapters.leases.release(held);
      assert.deepEqual(await adapters.eventLog.append({ lease: held, events: [mail('acc_r', 2, 'fenced')], pushable: [true] }), { ok: false, reason: 'lease_lost' });
      assert.deepEqual(await adapters.pushOutbox.pending(ref), [], 'a refused append leaves nothing pending');
      const again = await lease(userId, 'acc_r');
      const first = await adapters.eventLog.append({ lease: again, events: [mail('acc_r', 3, 'trimmed')], pushable: [true] });
      assert.ok(first.ok);
      // Far more than retention keeps (events.retentionCount; Redis trims whole stream nodes of
      // 100 entries), none of them pushable.
      for (let i = 0; i < 15; i++) assert.ok((await adapters.eventLog.append({ lease: again, events: Array.from({ length: 20 }, (_, n) => note(n)) })).ok);
      assert.equal((await adapters.eventLog.read(userId, undefined, 100)).some((e) => e.id === first.ids[0]), false, 'trimmed from the log');
      assert.deepEqual(await adapters.pushOutbox.pending(ref), [], 'nothing left to push for a trimmed event');
    });

    test('control bus delivers account changes', async () => {
      const heard: ControlMessage[] = [];
      await adapters.control.subscribe((m) => heard.push(m));
      await adapters.control.publish({ kind: 'created', userId: 'usr_a', accountId: 'acc_b' });
      await waitFor(() => heard.some((m) => m.kind === 'created' && m.accountId === 'acc_b'), { timeoutMs: 2000, what: 'control message' });
    });

    test('hint bus: a hint reaches the listeners of its host and login only, and says how many', async () => {
      const hint = (host: string, login: string, uid: number): MailHint => ({ host, login, mailbox: 'INBOX', uidValidity: 7, uid, receivedAt: Date.now() });
      assert.equal(await adapters.hints.publish(hint('imap.example.test', 'nobody', 1)), 0, 'nobody listens: reached none');
      const heard: MailHint[] = [];
      const other: MailHint[] = [];
      const stop = await adapters.hints.subscribe({ host: 'IMAP.example.test', login: 'alice' }, (h) => heard.push(h));
      const stopOther = await adapters.hints.subscribe({ host: 'imap2.example.test', login: 'alice' }, (h) => other.push(h));
      assert.equal(await adapters.hints.publish(hint('imap.example.test', 'alice', 5)), 1);
      // The same login on another host is another mailbox: the next hint there is the only one it hears.
      assert.equal(await adapters.hints.publish(hint('imap2.example.test', 'alice', 9)), 1);
      await waitFor(() => heard.length === 1 && other.length === 1, { timeoutMs: 2000, what: 'both hints' });
      assert.deepEqual([heard[0]!.uid, other[0]!.uid], [5, 9]);
      await stop();
      await stopOther();
      assert.equal(await adapters.hints.publish(hint('imap.example.test', 'alice', 6)), 0, 'after unsubscribing nobody listens');
    });

    test('mailbox commands: the holder of an account answers its commands only; nobody holding it, or a late answer, says so', async () => {
      const ref = { userId: 'usr_cmd', accountId: newId('acc') };
      const other = { userId: 'usr_cmd', accountId: newId('acc') };
      const read: MailboxCommand = { kind: 'read', mailbox: 'INBOX', uid: 7, uidValidity: 3 };
      const soon = () => Date.now() + 2000;
      assert.deepEqual(await adapters.mailboxCommands.request(ref, read, soon()), { ok: false, reason: 'no_holder' });
      const heard: MailboxCommand[] = [];
      const stop = await adapters.mailboxCommands.serve(ref, async (command) => {
        heard.push(command);
        if (command.kind === 'action') return { status: 'done', outcome: 'seen' };
        if (command.uid === 8) throw new Error('the server said NO');
        if (command.uid === 9) return new Promise<MailboxReply>(() => undefined); // never answers
        return { status: 'not_found' };
      });
      const stopOther = await adapters.mailboxCommands.serve(other, async () => ({ status: 'mailbox_changed' }));
      // Many at once, each answered on its own: replies are matched to their requests.
      const [a, b, c] = await Promise.all([
        adapters.mailboxCommands.request(ref, read, soon()),
        adapters.mailboxCommands.request(ref, { kind: 'action', action: 'seen', mailbox: 'INBOX', uid: 7, uidValidity: 3 }, soon()),
        adapters.mailboxCommands.request(other, read, soon()),
      ]);
      assert.deepEqual([a, b, c], [
        { ok: true, reply: { status: 'not_found' } },
        { ok: true, reply: { status: 'done', outcome: 'seen' } },
        { ok: true, reply: { status: 'mailbox_changed' } },
      ]);
      assert.deepEqual(heard.map((command) => command.kind).sort(), ['action', 'read'], 'the other account\'s command went to its own holder');
      assert.deepEqual(await adapters.mailboxCommands.request(ref, { ...read, uid: 8 }, soon()), { ok: true, reply: { status: 'failed', message: 'the server said NO' } });
      const startedAt = Date.now();
      assert.deepEqual(await adapters.mailboxCommands.request(ref, { ...read, uid: 9 }, Date.now() + 300), { ok: false, reason: 'timeout' });
      assert.ok(Date.now() - startedAt < 1500, 'the deadline bounds the wait');
      await stop();
      await stopOther();
      assert.deepEqual(await adapters.mailboxCommands.request(ref, read, soon()), { ok: false, reason: 'no_holder' }, 'after stopping nobody holds it');
    });
  });
}

const fixtures = useFixtures();
let redis: RedisServer;
conformance('Redis adapters', async () => {
  redis = await fixtures.redis();
  const adapters = createRedisAdapters({ redis: redis.url, events }, 'conformance');
  return { adapters, teardown: () => adapters.close() };
});

let cluster: RedisCluster;
conformance('Redis adapters on a Redis Cluster', async () => {
  cluster = await fixtures.redisCluster();
  const nodes = cluster.nodes.map((node) => ({ host: '127.0.0.1', port: node.port }));
  const adapters = createRedisAdapters({ redis: { nodes, tls: false }, events }, 'conformance-cluster');
  return { adapters, teardown: () => adapters.close() };
});

conformance('embedded adapters (SQLite + memory)', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'mailpush-embedded-'));
  const adapters = createEmbeddedAdapters({ dataDir: dir, events });
  return { adapters, teardown: async () => { await adapters.close(); await rm(dir, { recursive: true, force: true }); } };
});

// The embedded store moved from better-sqlite3 to node:sqlite (December 2026). A DATA_DIR written
// by the old adapter (test/fixtures/make-better-sqlite3-store.mjs wrote the fixture) must open
// with today's and read back exactly what was written, then go on appending after it.
describe('embedded store written by better-sqlite3', () => {
  const fixture = path.join(import.meta.dirname, '../../../test/fixtures/better-sqlite3-store');

  test('is read by the node:sqlite adapter as it was written, and appends continue after it', async () => {
    const expected = JSON.parse(await readFile(path.join(fixture, 'expected.json'), 'utf8')) as {
      token: string; userId: string; identity: string; account: AccountRecord; subscription: PushSubscriptionRecord;
      watermark: { mailbox: string; value: Watermark }; appendedIds: string[]; events: MailEvent[];
    };
    const dir = await mkdtemp(path.join(tmpdir(), 'mailpush-fixture-'));
    await cp(path.join(fixture, 'mailpush.sqlite'), path.join(dir, 'mailpush.sqlite'));
    const adapters = createEmbeddedAdapters({ dataDir: dir, events: { batchSize: 25, retentionCount: 3, retentionMs: 3650 * 86400_000 } });
    try {
      const { userId, account: record } = expected;
      assert.equal(await adapters.users.findByToken(hashToken(expected.token)), userId);
      assert.deepEqual(await adapters.accounts.listForUser(userId), [record]);
      assert.deepEqual(await adapters.accounts.findMailbox(expected.identity), { userId, accountId: record.accountId });
      const devices = await adapters.devices.list(userId);
      assert.equal(devices.length, 1, 'the schema-1 token became a device');
      assert.equal(await adapters.accounts.create(account(userId), expected.identity), 'exists');
      // The user's one token registered its subscription: the migration makes it that device's.
      assert.deepEqual(await adapters.pushSubscriptions.list(userId), [{ ...expected.subscription, deviceId: devices[0]!.id }]);
      assert.deepEqual(await adapters.eventLog.read(userId, undefined, 100), expected.events);
      assert.equal(expected.events.length, 3, 'the fixture kept three of five events');
      assert.equal(await adapters.eventLog.latestId(userId), expected.appendedIds.at(-1));
      // Retention dropped the first two: a client at the first is told to resync, one at the second is not.
      assert.equal(await adapters.eventLog.isTrimmedAfter(userId, expected.appendedIds[0]!), true);
      assert.equal(await adapters.eventLog.isTrimmedAfter(userId, expected.appendedIds[1]!), false);
      const { mailbox, value } = expected.watermark;
      assert.deepEqual(await adapters.eventLog.watermark(record, mailbox), value);

      const lease = (await adapters.leases.acquire(record, 'w1', 60_000))!;
      const next = { uidValidity: value.uidValidity, lastUid: value.lastUid + 1 };
      const result = await adapters.eventLog.append({ lease, events: [note(6)], watermark: { mailbox, expected: value, next } });
      assert.ok(result.ok);
      const after = await adapters.eventLog.read(userId, expected.appendedIds.at(-1), 10);
      assert.deepEqual(after.map((event) => event.id), result.ids);
      assert.deepEqual(await adapters.eventLog.watermark(record, mailbox), next);
    } finally {
      await adapters.close();
    }
    // The durability settings the store always had: write-ahead log, and a commit is on disk before it returns.
    const db = openDatabase(dir);
    try {
      assert.deepEqual([db.pragma('journal_mode'), db.pragma('synchronous')], ['wal', 2]);
    } finally {
      db.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
