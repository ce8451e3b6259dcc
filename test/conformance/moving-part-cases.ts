// Conformance cases for what moves: leases, the live feed, the event log and its watermarks, push
// subscriptions and the push outbox, the control and hint buses, mailbox commands. Registered by
// adapter-conformance.test.ts for each setup, inside that setup's describe.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Adapters } from '../../src/adapters/adapters.js';
import type { ControlMessage, Lease, MailHint } from '../../src/core/ports.js';
import { hashToken, newId, newToken } from '../../src/core/tokens.js';
import type { LiveEvent } from '../../src/core/live-event.js';
import type { NewEvent } from '../../src/core/types.js';
import type { MailboxCommand, MailboxReply } from '../../src/core/mailbox-command.js';
import { waitFor } from '../helpers/wait.js';
import { note } from './shared.js';

export function movingPartCases(current: () => Adapters): void {
  let adapters: Adapters;
  before(() => {
    adapters = current();
  });
  const user = async () => adapters.users.create(hashToken(newToken()));
  const lease = async (userId: string, accountId = 'acc_x'): Promise<Lease> => (await adapters.leases.acquire({ userId, accountId }, 'w1', 60_000))!;
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
}
