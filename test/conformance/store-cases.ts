// Conformance cases for the stores: users, accounts, devices, quiet hours, OAuth flows, pairing
// codes, attempt counters and deleting a user. Registered by adapter-conformance.test.ts for each
// setup (one Redis, a Redis Cluster, embedded), inside that setup's describe.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { allAccountRefs } from '../helpers/account-refs.js';
import type { Adapters } from '../../src/adapters/adapters.js';
import { hashToken, newId, newToken } from '../../src/core/tokens.js';
import type { QuietHours } from '../../src/protocol/quiet-hours.js';
import type { AccountRecord } from '../../src/core/types.js';
import { waitFor } from '../helpers/wait.js';
import { account, keysEverywhere, note } from './shared.js';

export function storeCases(current: () => Adapters): void {
  let adapters: Adapters;
  before(() => {
    adapters = current();
  });
  const user = async () => adapters.users.create(hashToken(newToken()));
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
    const seen = (await allAccountRefs(adapters.accounts)).map((r) => r.accountId);
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
    // Oldest first; two devices made within one millisecond may come in either order.
    const listed = await adapters.devices.list(userId);
    assert.deepEqual(listed.map((d) => d.name).sort(), ['Laptop', 'Phone']);
    assert.ok(listed[0]!.createdAt <= listed[1]!.createdAt, 'oldest first');
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

  test('attempt counters: per kind and client, for one window, and how much of it is left', async () => {
    const client = newId('ip');
    assert.equal(await adapters.attempts.count('pairing', client), 0);
    assert.equal(await adapters.attempts.record('pairing', client, 400), 1);
    assert.equal(await adapters.attempts.record('pairing', client, 400), 2);
    assert.equal(await adapters.attempts.count('pairing', client), 2);
    const left = await adapters.attempts.windowLeftMs('pairing', client);
    assert.ok(left > 0 && left <= 400, `${left} ms of the window left`);
    assert.equal(await adapters.attempts.windowLeftMs('other', client), 0, 'no window of another kind');
    assert.equal(await adapters.attempts.count('other', client), 0);
    assert.equal(await adapters.attempts.count('pairing', newId('ip')), 0);
    await waitFor(async () => (await adapters.attempts.count('pairing', client)) === 0, { timeoutMs: 5000, what: 'the window to end' });
    assert.equal(await adapters.attempts.windowLeftMs('pairing', client), 0, 'nothing left of an ended window');
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
}
