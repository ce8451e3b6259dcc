// One person, many devices (issue 15): signing in with the mailbox, devices and their removal on
// every web process, pairing by code, and deleting everything. Redis mode: an in-process gateway
// (web and worker) and two spawned web processes on the same Redis and Dovecot; then the same
// flow once in embedded mode.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Dovecot } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import type { RedisServer } from '../helpers/redis.js';
import { api, openReadyStream, type TestGateway } from '../helpers/gateway.js';
import { gatewayEnv } from '../helpers/gateway-env.js';
import { buildMessage } from '../helpers/message.js';
import type { MailpushProcess } from '../helpers/processes.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { hashToken } from '../../src/core/tokens.js';
import { PAIRING_CODE_ALPHABET, PAIRING_CODE_LENGTH } from '../../src/protocol/devices.js';

let dovecot: Dovecot;
let redis: RedisServer;
let gateway: TestGateway;
/** The in-process gateway (web and worker). */
let base: string;
/** A spawned web process; its pairing codes live one second. */
let second: MailpushProcess;
/** Another spawned web process, so that a removal on one reaches streams on the other. */
let third: MailpushProcess;

const fixtures = useFixtures();

before(async () => {
  [dovecot, redis] = await Promise.all([fixtures.dovecot(), fixtures.redis()]);
  gateway = await fixtures.gateway({ redisUrl: redis.url, imapPort: dovecot.imapPort, env: { PUBLIC_URL: 'https://mail.example.test' } });
  base = gateway.url!;
  // The twelve mailboxes of the tests, in one passwd-file write (a second each otherwise) while the web processes start.
  [second, third] = await Promise.all([
    fixtures.mailpush('web', gatewayEnv({ redisUrl: redis.url, imapPort: dovecot.imapPort, env: { PAIRING_TTL_SECONDS: '1' } })),
    fixtures.mailpush('web', gatewayEnv({ redisUrl: redis.url, imapPort: dovecot.imapPort })),
    dovecot.reserveUsers(12),
  ]);
});

const signIn = (at: string, user: { user: string; pass: string }, deviceName?: string) =>
  api(at, 'POST', '/v1/sessions', { body: { imap: { user: user.user, pass: user.pass }, ...(deviceName ? { deviceName } : {}) } });

/** IMAP sessions of `user` open now, by Dovecot's log: logins minus logouts and disconnects. */
async function openImapSessions(user: string): Promise<number> {
  const lines = (await dovecot.readLog()).split('\n');
  const logins = lines.filter((l) => l.includes('Login: user=<' + user + '>')).length;
  const ends = lines.filter((l) => l.includes(`imap(${user})`) && /Logged out|Disconnected/.test(l)).length;
  return logins - ends;
}

async function accountState(token: string, accountId: string): Promise<string | undefined> {
  return (await api(base, 'GET', `/v1/accounts/${accountId}`, { token })).body?.account?.state;
}

describe('signing in with the mailbox', () => {
  test('two sign-ins to one mailbox: one user, one IMAP session, each event on both devices', async () => {
    const mailbox = await dovecot.addUser();
    const laptop = await signIn(base, mailbox, 'Laptop');
    assert.equal(laptop.status, 201, JSON.stringify(laptop.body));
    assert.equal(laptop.body.created, true);
    assert.match(laptop.body.token, /^mpt_/);
    assert.deepEqual([laptop.body.device.name, laptop.body.device.current], ['Laptop', true]);
    await waitFor(async () => (await accountState(laptop.body.token, laptop.body.account.id)) === 'idle', { timeoutMs: 10_000, what: 'idle' });

    // The phone signs in through POST /v1/accounts without a token, on the other web process.
    const phone = await api(second.url!, 'POST', '/v1/accounts', { body: { imap: { user: mailbox.user, pass: mailbox.pass }, deviceName: 'Phone' } });
    assert.equal(phone.status, 201, JSON.stringify(phone.body));
    assert.equal(phone.body.created, false);
    assert.equal(phone.body.account.id, laptop.body.account.id, 'the same account');
    assert.notEqual(phone.body.token, laptop.body.token);

    const devices = await api(base, 'GET', '/v1/devices', { token: phone.body.token });
    assert.equal(devices.status, 200);
    assert.deepEqual(devices.body.devices.map((d: { name: string; current: boolean }) => [d.name, d.current]), [['Laptop', false], ['Phone', true]]);
    const accounts = await api(base, 'GET', '/v1/accounts', { token: phone.body.token });
    assert.equal(accounts.body.accounts.length, 1);

    const onLaptop = await openReadyStream(base, laptop.body.token);
    const onPhone = await openReadyStream(second.url!, phone.body.token);
    await dovecot.deliver(mailbox.email, buildMessage({ from: { address: 'ann@example.test' }, to: mailbox.email, subject: 'for both' }));
    const [a, b] = await Promise.all([onLaptop, onPhone].map((s) => s.waitFor((m) => m.type === 'mail.new', 10_000, 'mail.new')));
    assert.equal(a.id, b.id, 'one event, one id, on both devices');
    assert.equal(a.data.subject, 'for both');
    // The proofs logged in and out again; the worker holds the one session that stays.
    await waitFor(async () => (await openImapSessions(mailbox.user)) === 1, { timeoutMs: 5000, what: 'one IMAP session' });
    onLaptop.close();
    onPhone.close();
  });

  test('the login is proven first: a wrong password is 422 and makes no device', async () => {
    const mailbox = await dovecot.addUser();
    const first = await signIn(base, mailbox);
    const wrong = await signIn(base, { user: mailbox.user, pass: 'wrong-password' });
    assert.equal(wrong.status, 422);
    assert.equal(wrong.body.error.code, 'imap_auth_failed');
    assert.equal((await api(base, 'GET', '/v1/devices', { token: first.body.token })).body.devices.length, 1);
    const missing = await api(base, 'POST', '/v1/sessions', { body: { imap: { user: mailbox.user } } });
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error.code, 'invalid_request');
    const badName = await api(base, 'POST', '/v1/sessions', { body: { imap: { user: mailbox.user, pass: mailbox.pass }, deviceName: 'x'.repeat(65) } });
    assert.equal(badName.status, 400);
  });

  test('with a token, another user\'s mailbox is 409 account_exists after the proof; nothing changes', async () => {
    const mine = await signIn(base, await dovecot.addUser());
    const theirsMailbox = await dovecot.addUser();
    const theirs = await signIn(base, theirsMailbox);
    const add = (pass: string) => api(base, 'POST', '/v1/accounts', { token: mine.body.token, body: { imap: { user: theirsMailbox.user, pass } } });
    const guessed = await add('wrong-password');
    assert.equal(guessed.status, 422, 'without the password nobody learns the mailbox is registered');
    const known = await add(theirsMailbox.pass);
    assert.equal(known.status, 409);
    assert.equal(known.body.error.code, 'account_exists');
    assert.equal((await api(base, 'GET', '/v1/accounts', { token: mine.body.token })).body.accounts.length, 1);
    assert.equal((await api(base, 'GET', '/v1/accounts', { token: theirs.body.token })).body.accounts.length, 1);
  });
});

describe('signing in: the registration errors', () => {
  test('403 for a private host, 502 for a closed port, 422 for a wrong password, then 429', async () => {
    // Its own Redis, so that no other test's sign-ins count against this rate limit.
    const ownRedis = await fixtures.redis();
    const closedPort = await freePort();
    const strict = await fixtures.gateway({
      role: 'web', redisUrl: ownRedis.url, imapPort: dovecot.imapPort,
      env: { IMAP_ALLOW_PRIVATE: 'false', IMAP_ALLOWED_HOSTS: 'localhost', IMAP_ALLOWED_PORTS: `${dovecot.imapPort},${closedPort}`, IMAP_CONNECT_TIMEOUT_SECONDS: '2', REGISTER_RATE_LIMIT_PER_MINUTE: '4' },
    });
    const at = strict.url!;
    const mailbox = await dovecot.addUser();
    const attempt = (imap: Record<string, unknown>) => api(at, 'POST', '/v1/sessions', { body: { imap: { user: mailbox.user, pass: mailbox.pass, security: 'none', ...imap } } });
    const codes = async (response: Promise<{ status: number; body: any }>) => {
      const { status, body } = await response;
      return [status, body.error?.code];
    };
    assert.deepEqual(await codes(attempt({ host: '10.0.0.1', port: dovecot.imapPort })), [403, 'imap_host_not_allowed']);
    assert.deepEqual(await codes(attempt({ host: 'localhost', port: closedPort })), [502, 'imap_unreachable']);
    assert.deepEqual(await codes(attempt({ host: 'localhost', port: dovecot.imapPort, pass: 'wrong-password' })), [422, 'imap_auth_failed']);
    assert.deepEqual(await codes(attempt({ host: 'localhost', port: dovecot.imapPort, pass: 'wrong-password' })), [422, 'imap_auth_failed']);
    assert.deepEqual(await codes(attempt({ host: 'localhost', port: dovecot.imapPort })), [429, 'rate_limited']);
    // Only counters are left: the per-address rate limits and the mailbox's login budget.
    const keys = (await strict.adapters.redis!.keys('*')).filter((k) => !/:(ratelimit|attempts):/.test(k) && !k.endsWith(':schema'));
    assert.deepEqual(keys, [], 'no attempt stored anything');
  });
});

describe('signing in after a password change', () => {
  test('an account refused for its old password recovers with the password a sign-in just proved', async () => {
    const mailbox = await dovecot.addUser();
    const first = await signIn(base, mailbox);
    const { token } = first.body;
    const accountId = first.body.account.id as string;
    await waitFor(async () => (await accountState(token, accountId)) === 'idle', { timeoutMs: 10_000, what: 'idle' });
    await dovecot.setPassword(mailbox.user, 'the-new-password');
    // Pausing and resuming makes the worker log in again, with the stored (old) password.
    await api(base, 'PATCH', `/v1/accounts/${accountId}`, { token, body: { disabled: true } });
    await api(base, 'PATCH', `/v1/accounts/${accountId}`, { token, body: { disabled: false } });
    await waitFor(async () => (await accountState(token, accountId)) === 'auth_failed', { timeoutMs: 10_000, what: 'auth_failed' });
    const again = await signIn(base, { user: mailbox.user, pass: 'the-new-password' });
    assert.equal(again.status, 201);
    assert.equal(again.body.created, false);
    await waitFor(async () => (await accountState(token, accountId)) === 'idle', { timeoutMs: 10_000, what: 'idle with the new password' });
  });
});

describe('devices', () => {
  test('rename; another user\'s device is 404; removal on one web process: 401 on REST, 4401 on another within 2 s, its subscriptions gone', async () => {
    const mailbox = await dovecot.addUser();
    const laptop = await signIn(base, mailbox, 'Laptop');
    const phone = await signIn(second.url!, mailbox, 'Phone');
    const stranger = await signIn(base, await dovecot.addUser());
    const phoneId = phone.body.device.id as string;

    const renamed = await api(base, 'PATCH', `/v1/devices/${phoneId}`, { token: laptop.body.token, body: { name: '  Work phone ' } });
    assert.equal(renamed.status, 200);
    assert.deepEqual([renamed.body.device.name, renamed.body.device.current], ['Work phone', false]);
    assert.equal((await api(base, 'PATCH', `/v1/devices/${phoneId}`, { token: laptop.body.token, body: { name: '' } })).status, 400);
    assert.equal((await api(base, 'PATCH', `/v1/devices/${phoneId}`, { token: stranger.body.token, body: { name: 'mine' } })).status, 404);
    assert.equal((await api(base, 'DELETE', `/v1/devices/${phoneId}`, { token: stranger.body.token })).status, 404);
    assert.equal((await api(base, 'GET', '/v1/devices', { token: phone.body.token })).status, 200, 'the stranger changed nothing');

    // A push subscription the phone registered (stored directly: this test runs without VAPID).
    const userId = (await gateway.adapters.users.findByToken(hashToken(phone.body.token)))!;
    const now = new Date().toISOString();
    const subscription = (rec: { id: string; deviceId: string }) => ({ ...rec, userId, endpoint: `https://push.example.test/${rec.id}`, keys: { p256dh: 'p', auth: 'a' }, expirationTime: null, accounts: [], preview: 'sender' as const, createdAt: now, updatedAt: now });
    await gateway.adapters.pushSubscriptions.upsert(subscription({ id: 'sub_phone', deviceId: phoneId }), 10);
    await gateway.adapters.pushSubscriptions.upsert(subscription({ id: 'sub_laptop', deviceId: laptop.body.device.id }), 10);

    const stream = await openReadyStream(second.url!, phone.body.token);
    const laptopStream = await openReadyStream(second.url!, laptop.body.token);
    // Removed through one spawned web process; the phone's stream is open on the other.
    const removedAt = Date.now();
    assert.equal((await api(third.url!, 'DELETE', `/v1/devices/${phoneId}`, { token: laptop.body.token })).status, 204);
    assert.equal((await api(second.url!, 'GET', '/v1/accounts', { token: phone.body.token })).status, 401);
    const closed = await stream.waitForClose(2000);
    assert.equal(closed.code, 4401);
    assert.ok(Date.now() - removedAt <= 2000);
    assert.deepEqual((await gateway.adapters.pushSubscriptions.list(userId)).map((s) => s.id), ['sub_laptop']);
    assert.equal((await api(base, 'DELETE', `/v1/devices/${phoneId}`, { token: laptop.body.token })).status, 404);
    // The laptop's stream stays: a ping is still answered.
    laptopStream.socket.send(JSON.stringify({ type: 'ping' }));
    await laptopStream.waitFor((m) => m.type === 'pong', 5000, 'pong');
    laptopStream.close();
  });

  test('DELETE /v1/devices/current signs this device out', async () => {
    const mailbox = await dovecot.addUser();
    const one = await signIn(base, mailbox);
    const two = await signIn(base, mailbox);
    assert.equal((await api(base, 'DELETE', '/v1/devices/current', { token: one.body.token })).status, 204);
    assert.equal((await api(base, 'GET', '/v1/devices', { token: one.body.token })).status, 401);
    const left = await api(base, 'GET', '/v1/devices', { token: two.body.token });
    assert.deepEqual(left.body.devices.map((d: { id: string }) => d.id), [two.body.device.id]);
    assert.equal((await api(base, 'GET', '/v1/devices')).status, 401);
  });
});

describe('pairing', () => {
  test('a code signs one device in, once; wrong, used and expired codes get one answer; more than five wrong claims a minute is 429', async () => {
    const mailbox = await dovecot.addUser();
    const owner = await signIn(base, mailbox);
    assert.equal((await api(base, 'POST', '/v1/pairings')).status, 401);
    const pairing = await api(base, 'POST', '/v1/pairings', { token: owner.body.token });
    assert.equal(pairing.status, 201);
    const { code, url, expiresAt } = pairing.body;
    assert.equal(code.length, PAIRING_CODE_LENGTH);
    assert.ok([...code].every((c: string) => PAIRING_CODE_ALPHABET.includes(c)));
    assert.equal(url, `https://mail.example.test/#/pair?code=${code}`);
    const ttl = Date.parse(expiresAt) - Date.now();
    assert.ok(ttl > 290_000 && ttl <= 300_000, `5 minutes by default, got ${ttl} ms`);

    const invalid = (response: { status: number; body: any }) => {
      assert.equal(response.status, 400);
      assert.equal(response.body.error.code, 'pairing_code_invalid');
    };
    // Typed by a person: lower case, a dash in the middle.
    const typed = `${code.slice(0, 5).toLowerCase()}-${code.slice(5)}`;
    const claimed = await api(base, 'POST', '/v1/pairings/claim', { body: { code: typed, deviceName: 'Tablet' } });
    assert.equal(claimed.status, 201, JSON.stringify(claimed.body));
    assert.equal(claimed.body.device.name, 'Tablet');
    const accounts = await api(base, 'GET', '/v1/accounts', { token: claimed.body.token });
    assert.equal(accounts.body.accounts[0].id, owner.body.account.id, 'the new device is the same user');
    invalid(await api(base, 'POST', '/v1/pairings/claim', { body: { code } })); // used

    // The second web process has a one-second lifetime for codes.
    const shortLived = await api(second.url!, 'POST', '/v1/pairings', { token: owner.body.token });
    assert.ok(shortLived.body.url.endsWith(`/#/pair?code=${shortLived.body.code}`));
    assert.ok(shortLived.body.url.startsWith(second.url!), 'without PUBLIC_URL, the origin the request came to');
    await waitFor(() => Date.now() > Date.parse(shortLived.body.expiresAt) + 50, { timeoutMs: 3000, what: 'the code to expire' });
    invalid(await api(second.url!, 'POST', '/v1/pairings/claim', { body: { code: shortLived.body.code } })); // expired
    invalid(await api(base, 'POST', '/v1/pairings/claim', { body: { code: 'ZZZZZZZZZZ' } })); // wrong
    invalid(await api(base, 'POST', '/v1/pairings/claim', { body: { code: 'short' } }));
    // Six claims this minute, but the first was right: only five were wrong, so still a 400.
    invalid(await api(second.url!, 'POST', '/v1/pairings/claim', { body: { code: 'YYYYYYYYYY' } }));
    const fresh = await api(base, 'POST', '/v1/pairings', { token: owner.body.token });
    const limited = await api(base, 'POST', '/v1/pairings/claim', { body: { code: fresh.body.code } });
    assert.equal(limited.status, 429, 'after five wrong codes in a minute, on any web process');
    assert.equal(limited.body.error.code, 'rate_limited');
  });
});

describe('deleting my data', () => {
  test('DELETE /v1/users/me: the IMAP session logs out, every token is 401, nothing of the user is left in Redis', async () => {
    const mailbox = await dovecot.addUser();
    const one = await signIn(base, mailbox);
    const two = await signIn(second.url!, mailbox);
    const userId = (await gateway.adapters.users.findByToken(hashToken(one.body.token)))!;
    await waitFor(async () => (await accountState(one.body.token, one.body.account.id)) === 'idle', { timeoutMs: 10_000, what: 'idle' });
    await api(base, 'POST', '/v1/pairings', { token: one.body.token });
    const stream = await openReadyStream(second.url!, two.body.token);
    const logBefore = (await dovecot.readLog()).length;

    assert.equal((await api(base, 'DELETE', '/v1/users/me', { token: one.body.token })).status, 204);
    for (const token of [one.body.token, two.body.token]) {
      assert.equal((await api(base, 'GET', '/v1/accounts', { token })).status, 401);
    }
    assert.equal((await stream.waitForClose(2000)).code, 4401);
    await waitFor(async () => (await dovecot.readLog()).slice(logBefore).split('\n').some((l) => l.includes(`imap(${mailbox.user})`) && /Logged out/.test(l)),
      { timeoutMs: 5000, what: 'the worker to log out' });
    const redisClient = gateway.adapters.redis!;
    const userKeys = async () => {
      const found: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await redisClient.scan(cursor, 'MATCH', `*{u:${userId}}*`, 'COUNT', 1000);
        cursor = next;
        found.push(...keys);
      } while (cursor !== '0');
      return found;
    };
    assert.deepEqual(await userKeys(), []);
    assert.equal(await redisClient.hget(gateway.adapters.keys!.mailboxIndex(), `127.0.0.1|${dovecot.imapPort}|${mailbox.user.toLowerCase()}`), null);
    assert.equal((await redisClient.smembers(gateway.adapters.keys!.accountRegistry())).some((m) => m.startsWith(`${userId}/`)), false);
    // The mailbox is free: signing in again makes a new user.
    const again = await signIn(base, mailbox);
    assert.equal(again.body.created, true);
    assert.deepEqual(await userKeys(), [], 'still nothing under the old user');
  });
});

describe('embedded (SQLite, one process)', () => {
  test('sign in twice, remove a device (4401 at once), delete my data: the IMAP session logs out and no row of the user is left', async () => {
    const dataDir = await fixtures.start('data dir', mkdtemp(path.join(tmpdir(), 'mailpush-devices-')), (dir) => rm(dir, { recursive: true, force: true }));
    const embedded = await fixtures.gateway({ dataDir, imapPort: dovecot.imapPort });
    const at = embedded.url!;
    const mailbox = await dovecot.addUser();
    const laptop = await signIn(at, mailbox, 'Laptop');
    const phone = await signIn(at, mailbox, 'Phone');
    assert.deepEqual([laptop.body.created, phone.body.created], [true, false]);
    assert.equal(phone.body.account.id, laptop.body.account.id);
    const userId = (await embedded.adapters.users.findByToken(hashToken(laptop.body.token)))!;
    await waitFor(async () => (await api(at, 'GET', `/v1/accounts/${laptop.body.account.id}`, { token: laptop.body.token })).body.account.state === 'idle', { timeoutMs: 10_000, what: 'idle' });

    const phoneStream = await openReadyStream(at, phone.body.token);
    const laptopStream = await openReadyStream(at, laptop.body.token);
    assert.equal((await api(at, 'DELETE', `/v1/devices/${phone.body.device.id}`, { token: laptop.body.token })).status, 204);
    assert.equal((await phoneStream.waitForClose(2000)).code, 4401);
    assert.equal((await api(at, 'GET', '/v1/devices', { token: phone.body.token })).status, 401);

    const logBefore = (await dovecot.readLog()).length;
    assert.equal((await api(at, 'DELETE', '/v1/users/me', { token: laptop.body.token })).status, 204);
    assert.equal((await laptopStream.waitForClose(2000)).code, 4401);
    assert.equal((await api(at, 'GET', '/v1/accounts', { token: laptop.body.token })).status, 401);
    await waitFor(async () => (await dovecot.readLog()).slice(logBefore).split('\n').some((l) => l.includes(`imap(${mailbox.user})`) && /Logged out/.test(l)),
      { timeoutMs: 5000, what: 'the worker to log out' });
    // Read the file as it is on disk, beside the running gateway (SQLite's WAL allows a reader).
    const { DatabaseSync } = await import('node:sqlite');
    const db = new DatabaseSync(path.join(dataDir, 'mailpush.sqlite'), { readOnly: true });
    try {
      const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((t) => t.name);
      for (const table of tables) {
        const columns = (db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name);
        const column = table === 'users' ? 'id' : columns.includes('user_id') ? 'user_id' : undefined;
        if (!column) continue;
        const { n } = db.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE ${column} = ?`).get(userId) as { n: number };
        assert.equal(n, 0, `no row of the user in ${table}`);
      }
      assert.ok(tables.includes('devices') && tables.includes('pairings'));
    } finally {
      db.close();
    }
  });
});
