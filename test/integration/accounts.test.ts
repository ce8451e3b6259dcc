// Registering and managing mailboxes over REST, against a real Dovecot and a real Redis.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Dovecot } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import { allAccountRefs } from '../helpers/account-refs.js';
import type { RedisServer } from '../helpers/redis.js';
import { api, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';
import { freePort } from '../helpers/ports.js';

let dovecot: Dovecot;
let redis: RedisServer;
let gateway: TestGateway;
let base: string;
/** A port nothing listens on, allowed like the Dovecot port so that a registration there is 502, not 403. */
let closedPort: number;

const fixtures = useFixtures();

before(async () => {
  [dovecot, redis] = await Promise.all([fixtures.dovecot(), fixtures.redis()]);
  closedPort = await freePort();
  // The nine mailboxes of the tests, in one passwd-file write (a second each otherwise) while the gateway starts.
  [gateway] = await Promise.all([
    fixtures.gateway({ redisUrl: redis.url, imapPort: dovecot.imapPort, env: { IMAP_ALLOWED_PORTS: `${dovecot.imapPort},${closedPort}` } }),
    dovecot.reserveUsers(9),
  ]);
  base = gateway.url!;
});

/** True once the worker has every stored account idle: leased, first sync done, its keys written. */
async function everyAccountIdle(): Promise<boolean> {
  const { accounts } = gateway.adapters;
  const refs = await allAccountRefs(accounts);
  const records = await Promise.all(refs.map((ref) => accounts.get(ref)));
  return records.every((record) => record?.state === 'idle');
}

async function register(user: { user: string; pass: string }, token?: string, extra: Record<string, unknown> = {}) {
  return api(base, 'POST', '/v1/accounts', { ...(token ? { token } : {}), body: { imap: { user: user.user, pass: user.pass }, ...extra } });
}

describe('registration', () => {
  test('proves the login, creates a user and returns its token once', async () => {
    const mailbox = await dovecot.addUser();
    const created = await register(mailbox, undefined, { email: mailbox.email });
    assert.equal(created.status, 201);
    assert.match(created.body.token, /^mpt_[A-Za-z0-9_-]{43}$/);
    const account = created.body.account;
    assert.match(account.id, /^acc_/);
    assert.deepEqual(account.imap, { host: '127.0.0.1', port: dovecot.imapPort, security: 'none', user: mailbox.user });
    assert.equal(account.email, mailbox.email);
    assert.deepEqual(account.mailboxes, ['INBOX']);
    assert.ok(['connecting', 'idle'].includes(account.state));
    assert.equal(JSON.stringify(created.body).includes(mailbox.pass), false, 'the password is never echoed');

    const listed = await api(base, 'GET', '/v1/accounts', { token: created.body.token });
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body.accounts.map((a: { id: string }) => a.id), [account.id]);
    assert.ok(!('token' in listed.body.accounts[0]));
    // The worker picks the account up and reaches IDLE.
    await waitFor(async () => (await api(base, 'GET', `/v1/accounts/${account.id}`, { token: created.body.token })).body.account.state === 'idle', { timeoutMs: 10_000, what: 'idle' });
  });

  test('with a token, adds the account to the same user; the same mailbox twice is 409', async () => {
    const first = await dovecot.addUser();
    const second = await dovecot.addUser();
    const created = await register(first);
    const token = created.body.token as string;
    const added = await register(second, token);
    assert.equal(added.status, 201);
    assert.equal(added.body.token, undefined, 'no new token for an existing user');
    const list = await api(base, 'GET', '/v1/accounts', { token });
    assert.equal(list.body.accounts.length, 2);
    const twice = await register(first, token);
    assert.equal(twice.status, 409);
    assert.equal(twice.body.error.code, 'account_exists');
    assert.equal((await api(base, 'GET', '/v1/accounts', { token })).body.accounts.length, 2, 'nothing added');
  });

  test('a wrong password is 422 imap_auth_failed and stores nothing', async () => {
    const mailbox = await dovecot.addUser();
    // Counters (the per-address rate limits, the mailbox's login budget) are not data.
    const dataKeys = async () => (await gateway.adapters.redis!.keys('*')).filter((k) => !/:(ratelimit|attempts):/.test(k)).sort();
    // The accounts registered by the tests before may still be being taken up (lease, watermark):
    // what they write must not be taken for this registration's.
    await waitFor(everyAccountIdle, { timeoutMs: 10_000, what: 'every earlier account to be idle' });
    const before = await dataKeys();
    const response = await register({ user: mailbox.user, pass: 'wrong-password' });
    assert.equal(response.status, 422);
    assert.equal(response.body.error.code, 'imap_auth_failed');
    assert.deepEqual(await dataKeys(), before, 'no key written');
  });

  test('an unreachable host is 502 imap_unreachable', async () => {
    const response = await api(base, 'POST', '/v1/accounts', { body: { imap: { host: '127.0.0.1', port: closedPort, security: 'none', user: 'x', pass: 'y' } } });
    assert.equal(response.status, 502);
    assert.equal(response.body.error.code, 'imap_unreachable');
  });

  test('invalid JSON and schema violations are 400 invalid_request', async () => {
    const bad = [
      { rawBody: '{"imap": ' },
      { body: { imap: { user: 'x' } } },
      { body: { imap: { user: 'x', pass: 'y', port: 70000 } } },
      { body: { imap: { user: 'x', pass: 'y', security: 'ssl' } } },
      { body: { imap: { user: 'x', pass: 'y' }, mailboxes: [] } },
      // More than MAX_WATCHED_MAILBOXES (20, the limit with NOTIFY), and a folder named twice.
      { body: { imap: { user: 'x', pass: 'y' }, mailboxes: Array.from({ length: 21 }, (_, i) => `F${i}`) } },
      { body: { imap: { user: 'x', pass: 'y' }, mailboxes: ['INBOX', 'Work', 'Work'] } },
      { body: { imap: { user: 'x', pass: 'y' }, email: 'not-an-email' } },
      { body: [] },
    ];
    for (const request of bad) {
      const response = await api(base, 'POST', '/v1/accounts', request);
      assert.equal(response.status, 400, JSON.stringify(request));
      assert.equal(response.body.error.code, 'invalid_request');
      assert.equal(typeof response.body.error.message, 'string');
      assert.doesNotMatch(JSON.stringify(response.body), /:\d+:\d+\)|node_modules|\.js/, 'no stack trace');
    }
  });

  test('a bad token is 401 on every route; unknown routes are JSON 404s', async () => {
    for (const [method, path] of [['GET', '/v1/accounts'], ['GET', '/v1/accounts/acc_x'], ['DELETE', '/v1/accounts/acc_x'], ['GET', '/v1/events']]) {
      const missing = await api(base, method!, path!);
      assert.equal(missing.status, 401, `${method} ${path}`);
      assert.equal(missing.body.error.code, 'unauthorized');
      const wrong = await api(base, method!, path!, { token: 'mpt_not-a-real-token' });
      assert.equal(wrong.status, 401);
    }
    const wrongOnCreate = await api(base, 'POST', '/v1/accounts', { token: 'mpt_nope', body: { imap: { user: 'x', pass: 'y' } } });
    assert.equal(wrongOnCreate.status, 401);
    const unknown = await api(base, 'GET', '/v1/nothing-here');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'not_found');
  });

  test('one user never sees another user\'s accounts or events', async () => {
    const alice = await register(await dovecot.addUser());
    const bob = await register(await dovecot.addUser());
    const aliceAccount = alice.body.account.id;
    for (const [method, body] of [['GET', undefined], ['PATCH', { disabled: true }], ['DELETE', undefined]] as const) {
      const response = await api(base, method, `/v1/accounts/${aliceAccount}`, { token: bob.body.token, ...(body ? { body } : {}) });
      assert.equal(response.status, 404, method);
      assert.equal(response.body.error.code, 'not_found');
    }
    const bobList = await api(base, 'GET', '/v1/accounts', { token: bob.body.token });
    assert.deepEqual(bobList.body.accounts.map((a: { id: string }) => a.id), [bob.body.account.id]);
    const bobEvents = await api(base, 'GET', '/v1/events', { token: bob.body.token });
    assert.ok(bobEvents.body.events.every((e: { accountId: string }) => e.accountId === bob.body.account.id));
    assert.equal((await api(base, 'GET', `/v1/accounts/${aliceAccount}`, { token: alice.body.token })).status, 200, 'still there');
  });
});

describe('changing and removing accounts', () => {
  test('PATCH disables and re-enables; a wrong new password is refused', async () => {
    const mailbox = await dovecot.addUser();
    const created = await register(mailbox);
    const { token } = created.body;
    const id = created.body.account.id;
    const disabled = await api(base, 'PATCH', `/v1/accounts/${id}`, { token, body: { disabled: true } });
    assert.equal(disabled.status, 200);
    assert.equal(disabled.body.account.state, 'disabled');
    const wrong = await api(base, 'PATCH', `/v1/accounts/${id}`, { token, body: { imap: { pass: 'not-it' } } });
    assert.equal(wrong.status, 422);
    assert.equal(wrong.body.error.code, 'imap_auth_failed');
    const empty = await api(base, 'PATCH', `/v1/accounts/${id}`, { token, body: {} });
    assert.equal(empty.status, 400);
    const enabled = await api(base, 'PATCH', `/v1/accounts/${id}`, { token, body: { disabled: false } });
    assert.equal(enabled.body.account.state, 'connecting');
    await waitFor(async () => (await api(base, 'GET', `/v1/accounts/${id}`, { token })).body.account.state === 'idle', { timeoutMs: 10_000, what: 'idle again' });
  });

  test('DELETE removes the account and its credentials, and its IMAP connection closes', async () => {
    const mailbox = await dovecot.addUser();
    const created = await register(mailbox);
    const { token } = created.body;
    const id = created.body.account.id;
    await waitFor(async () => (await api(base, 'GET', `/v1/accounts/${id}`, { token })).body.account.state === 'idle', { timeoutMs: 10_000, what: 'idle' });
    const loginsBefore = await dovecot.readLog();
    const removed = await api(base, 'DELETE', `/v1/accounts/${id}`, { token });
    assert.equal(removed.status, 204);
    assert.equal((await api(base, 'GET', `/v1/accounts/${id}`, { token })).status, 404);
    assert.equal((await api(base, 'DELETE', `/v1/accounts/${id}`, { token })).status, 404);
    const keys = await gateway.adapters.redis!.keys(`*${id}*`);
    assert.deepEqual(keys, [], 'no key of the account is left');
    // Dovecot logs the logout of the worker's IDLE connection.
    await waitFor(async () => {
      const log = (await dovecot.readLog()).slice(loginsBefore.length);
      return log.split('\n').some((line) => line.includes(`(${mailbox.user})`) && /Logged out|Disconnected/.test(line));
    }, { timeoutMs: 5000, what: 'the IMAP connection to close' });
  });
});

describe('admin access', () => {
  test('ADMIN_TOKEN sees every account with its owner and worker, and any user\'s events; users do not', async () => {
    const adminToken = 'admin-token-for-the-tests-0123456789';
    const admin = await startTestGateway({ role: 'web', redisUrl: redis.url, imapPort: dovecot.imapPort, env: { ADMIN_TOKEN: adminToken } });
    try {
      const adminBase = admin.url!;
      const alice = await register(await dovecot.addUser());
      await waitFor(async () => (await api(base, 'GET', `/v1/accounts/${alice.body.account.id}`, { token: alice.body.token })).body.account.state === 'idle', { timeoutMs: 10_000, what: 'idle' });
      const listed = await api(adminBase, 'GET', '/v1/admin/accounts', { token: adminToken });
      assert.equal(listed.status, 200);
      const entry = listed.body.accounts.find((a: { id: string }) => a.id === alice.body.account.id);
      assert.ok(entry, 'alice\'s account is listed');
      assert.match(entry.userId, /^usr_/);
      assert.equal(entry.worker, gateway.worker!.workerId);
      assert.ok(!JSON.stringify(listed.body).includes('sealedPassword'));
      const events = await api(adminBase, 'GET', `/v1/admin/users/${entry.userId}/events`, { token: adminToken });
      assert.equal(events.status, 200);
      assert.ok(events.body.events.some((e: { type: string }) => e.type === 'account.state'));

      assert.equal((await api(adminBase, 'GET', '/v1/admin/accounts', { token: alice.body.token })).status, 401, 'a user token is not admin');
      assert.equal((await api(adminBase, 'GET', '/v1/admin/accounts')).status, 401);
      const adminOwns = await api(adminBase, 'POST', '/v1/accounts', { token: adminToken, body: { imap: { user: 'x', pass: 'y' } } });
      assert.equal(adminOwns.status, 403);
    } finally {
      await admin.stop();
    }
  });
});
