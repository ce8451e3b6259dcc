// Web Push end to end: real mail through Dovecot's LMTP, real `mailpush` processes (one worker,
// two web front ends sharing the send queue), and a push service on loopback that verifies VAPID
// and decrypts every notification itself.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ImapFlow } from 'imapflow';
import webpush from 'web-push';
import type { Dovecot } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import { gatewayEnv } from '../helpers/gateway-env.js';
import type { RedisServer } from '../helpers/redis.js';
import { buildMessage } from '../helpers/message.js';
import type { PushService, TestSubscription } from '../helpers/push-service.js';
import { api, registerWatched, startTestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';
import type { MailpushProcess } from '../helpers/processes.js';

let dovecot: Dovecot;
let redis: RedisServer;
let push: PushService;
let webs: MailpushProcess[] = [];
const vapidKeys = webpush.generateVAPIDKeys();

const fixtures = useFixtures();

before(async () => {
  [dovecot, redis, push] = await Promise.all([fixtures.dovecot(), fixtures.redis(), fixtures.pushService()]);
  const env = gatewayEnv({ redisUrl: redis.url, imapPort: dovecot.imapPort, push, vapid: vapidKeys, env: { PUSH_TIMEOUT_SECONDS: '1', PUSH_TTL_SECONDS: '3600' } });
  // The twelve mailboxes of the tests, in one passwd-file write (a second each otherwise) while the processes start.
  const [, webA, webB] = await Promise.all([fixtures.mailpush('worker', env), fixtures.mailpush('web', env), fixtures.mailpush('web', env), dovecot.reserveUsers(12)]);
  webs = [webA, webB];
});

const base = () => webs[0]!.url!;

const mailbox = () => registerWatched(base(), dovecot);

async function subscribe(token: string, subscription: TestSubscription, extra: Record<string, unknown> = {}) {
  const response = await api(base(), 'POST', '/v1/push/subscriptions', { token, body: { subscription, ...extra } });
  assert.ok(response.status === 201 || response.status === 200, JSON.stringify(response.body));
  return response.body as { id: string; preview: string; accounts: string[] };
}

const deliveredTo = (name: string) => push.received.filter((r) => r.name === name);

describe('notifications', () => {
  test('a delivered mail ends as a decrypted notification for each preview level, with VAPID, TTL, Urgency and Topic', async () => {
    const { user, token, accountId } = await mailbox();
    const key = await api(base(), 'GET', '/v1/push/vapid-public-key');
    assert.deepEqual(key.body, { publicKey: vapidKeys.publicKey });
    for (const preview of ['none', 'sender', 'full']) await subscribe(token, push.subscribe(`preview-${preview}-${accountId}`), { preview });
    await dovecot.deliver(user.email, buildMessage({ from: { name: 'Ada Lovelace', address: 'ada@example.test' }, to: user.email, subject: 'Analytical engine 🚂' }));
    await waitFor(() => ['none', 'sender', 'full'].every((p) => deliveredTo(`preview-${p}-${accountId}`).length === 1), { timeoutMs: 10_000, what: 'three notifications' });
    const none = deliveredTo(`preview-none-${accountId}`)[0]!;
    const sender = deliveredTo(`preview-sender-${accountId}`)[0]!;
    const full = deliveredTo(`preview-full-${accountId}`)[0]!;
    assert.equal(none.payload.title, 'New mail');
    assert.equal(none.payload.body, '1 unread');
    assert.equal(JSON.stringify(none.payload).includes('Ada'), false, 'preview none shows no sender');
    assert.equal(sender.payload.title, 'Ada Lovelace');
    assert.equal(JSON.stringify(sender.payload).includes('Analytical'), false, 'preview sender shows no subject');
    assert.equal(full.payload.title, 'Ada Lovelace');
    assert.equal(full.payload.body, 'Analytical engine 🚂\nHello from the mailpush tests.', 'subject, then the start of the text');
    for (const r of [none, sender, full]) {
      assert.equal(r.payload.type, 'mail.new');
      assert.equal(r.payload.tag, `${accountId}:INBOX:1`);
      assert.equal(r.payload.unseen, 1);
      assert.equal(r.headers.urgency, 'high');
      assert.equal(r.headers.ttl, '3600');
      assert.match(String(r.headers.topic), /^[A-Za-z0-9_-]{1,32}$/);
      assert.equal(r.vapid.publicKey, vapidKeys.publicKey);
      assert.equal(r.vapid.sub, 'mailto:ops@example.test');
    }
    assert.equal(new Set([none, sender, full].map((r) => r.headers.topic)).size, 1, 'one topic per account');
    assert.deepEqual(push.rejected, []);

    // Read on another device: a low-urgency dismiss for the same tag.
    const phone = new ImapFlow({ host: '127.0.0.1', port: dovecot.imapPort, secure: false, doSTARTTLS: false, auth: { user: user.user, pass: user.pass }, logger: false });
    phone.on('error', () => undefined);
    await phone.connect();
    await phone.mailboxOpen('INBOX');
    await phone.messageFlagsAdd('1', ['\\Seen'], { uid: true });
    await waitFor(() => deliveredTo(`preview-full-${accountId}`).some((r) => r.payload.type === 'dismiss'), { timeoutMs: 10_000, what: 'dismiss' });
    const dismiss = deliveredTo(`preview-full-${accountId}`).find((r) => r.payload.type === 'dismiss')!;
    assert.deepEqual(dismiss.payload.tags, [`${accountId}:INBOX:1`]);
    assert.equal(dismiss.headers.urgency, 'low');
    assert.equal(dismiss.headers.topic, undefined, 'a dismiss must not replace a pending new-mail notification');
    await phone.logout();
  });

  test('each push arrives exactly once with two web processes sending', async () => {
    const { user, token, accountId } = await mailbox();
    await subscribe(token, push.subscribe(`once-${accountId}`));
    for (let i = 0; i < 10; i++) await dovecot.deliver(user.email, buildMessage({ from: { address: 'a@example.test' }, to: user.email, subject: `once ${i}` }));
    await waitFor(() => deliveredTo(`once-${accountId}`).length >= 10, { timeoutMs: 15_000, what: 'ten pushes' });
    // A sentinel mail after the case: its push is the next one to arrive, a repeat would come before it.
    await dovecot.deliver(user.email, buildMessage({ from: { address: 'a@example.test' }, to: user.email, subject: 'sentinel' }));
    // (The preview is the sender only: the eleventh push is the sentinel's unless one was repeated.)
    await waitFor(() => deliveredTo(`once-${accountId}`).length >= 11, { timeoutMs: 15_000, what: 'the sentinel push' });
    const events = deliveredTo(`once-${accountId}`).map((r) => r.payload.eventId);
    assert.equal(events.length, 11);
    assert.equal(new Set(events).size, 11, 'no event pushed twice');
  });

  test('a long non-ASCII subject is cut on a character boundary (the event\'s 1 KiB cap) and fits the record', async () => {
    const { user, token, accountId } = await mailbox();
    await subscribe(token, push.subscribe(`long-${accountId}`), { preview: 'full' });
    const subject = '日本語のメール😀'.repeat(400);
    await dovecot.deliver(user.email, buildMessage({ from: { address: 'a@example.test' }, to: user.email, subject }));
    await waitFor(() => deliveredTo(`long-${accountId}`).length === 1, { timeoutMs: 10_000, what: 'the push' });
    const received = deliveredTo(`long-${accountId}`)[0]!;
    assert.ok(received.bodyBytes <= 4096, `encrypted body of ${received.bodyBytes} bytes`);
    // Capped in the event already (the payload's own fitting is unit-tested): subject line, then the snippet.
    const [subjectLine = '', snippet] = (received.payload.body as string).split('\n');
    assert.ok(subjectLine.endsWith('…'));
    assert.ok(Buffer.byteLength(subjectLine) <= 1024);
    assert.ok(subject.startsWith(subjectLine.slice(0, -1)), 'a prefix of the subject');
    assert.equal(subjectLine.includes('\uFFFD'), false, 'no broken character');
    assert.equal(snippet, 'Hello from the mailpush tests.');
  });
});

describe('quiet hours', () => {
  const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);

  test('during them new mail goes out low and silent under one quiet tag and Topic per account; a VIP rings; after them, paused, resumed', async () => {
    const { user, token, accountId } = await mailbox();
    const name = `quiet-${accountId}`;
    await subscribe(token, push.subscribe(name), { preview: 'sender' });
    const setQuiet = async (body: object) => {
      const saved = await api(base(), 'PUT', '/v1/devices/current/quiet-hours', { token, body });
      assert.equal(saved.status, 200, JSON.stringify(saved.body));
      return saved.body.quietHours;
    };
    const mailFrom = async (address: string) => {
      const before = deliveredTo(name).length;
      await dovecot.deliver(user.email, buildMessage({ from: { address }, to: user.email, subject: 'night' }));
      await waitFor(() => deliveredTo(name).length === before + 1, { timeoutMs: 10_000, what: `the push of ${address}'s mail` });
      return deliveredTo(name)[before]!;
    };
    const now = Date.now();
    // "Now" is inside the window (in UTC; the window crosses midnight when the clock is near it).
    const night = { enabled: true, start: hhmm(now - 3600_000), end: hhmm(now + 3600_000), timeZone: 'UTC', vips: ['Boss@Example.test'], pausedUntil: null };
    assert.deepEqual(await setQuiet(night), { ...night, vips: ['boss@example.test'] });
    assert.deepEqual((await api(base(), 'GET', '/v1/devices/current/quiet-hours', { token })).body.quietHours.vips, ['boss@example.test']);

    const quiet = await mailFrom('someone@example.test');
    assert.deepEqual([quiet.headers.urgency, quiet.payload.silent, quiet.payload.tag], ['low', true, `${accountId}:quiet`]);
    assert.match(String(quiet.headers.topic), /^[A-Za-z0-9_-]{1,32}$/);
    const vip = await mailFrom('boss@example.test');
    assert.deepEqual([vip.headers.urgency, vip.payload.silent, vip.payload.tag], ['high', undefined, `${accountId}:INBOX:2`]);
    assert.notEqual(vip.headers.topic, quiet.headers.topic, 'a VIP\'s push never replaces the night\'s quiet one at the push service');
    const secondQuiet = await mailFrom('other@example.test');
    assert.deepEqual([secondQuiet.payload.tag, secondQuiet.headers.topic], [quiet.payload.tag, quiet.headers.topic], 'the night collapses per account');

    // The window moved past "now": normal again.
    await setQuiet({ ...night, start: hhmm(now + 2 * 3600_000), end: hhmm(now + 3 * 3600_000) });
    const day = await mailFrom('someone@example.test');
    assert.deepEqual([day.headers.urgency, day.payload.silent, day.payload.tag], ['high', undefined, `${accountId}:INBOX:4`]);
    // Paused for an hour with the window off, then resumed.
    await setQuiet({ ...night, enabled: false, pausedUntil: new Date(now + 3600_000).toISOString() });
    const paused = await mailFrom('someone@example.test');
    assert.deepEqual([paused.headers.urgency, paused.payload.silent], ['low', true]);
    await setQuiet({ ...night, enabled: false, pausedUntil: null });
    const resumed = await mailFrom('someone@example.test');
    assert.deepEqual([resumed.headers.urgency, resumed.payload.silent], ['high', undefined]);
    assert.deepEqual(push.rejected, []);
  });

  test('bad quiet hours get a clear 400 and change nothing; another user\'s device is 404', async () => {
    const { token } = await mailbox();
    const saved = { enabled: true, start: '22:00', end: '07:00', timeZone: 'Asia/Tokyo', vips: [], pausedUntil: null };
    assert.equal((await api(base(), 'PUT', '/v1/devices/current/quiet-hours', { token, body: saved })).status, 200);
    const cases: Array<[object, string]> = [
      [{ ...saved, timeZone: 'Mars/Olympus_Mons' }, 'invalid_quiet_hours'],
      [{ ...saved, end: '22:00' }, 'invalid_quiet_hours'],
      [{ ...saved, pausedUntil: new Date(Date.now() + 8 * 86400_000).toISOString() }, 'invalid_quiet_hours'],
      [{ ...saved, start: '24:00' }, 'invalid_request'],
      [{ ...saved, vips: ['not an address'] }, 'invalid_request'],
      [{ ...saved, vips: Array.from({ length: 51 }, (_, i) => `vip${i}@example.test`) }, 'invalid_request'],
      [{ ...saved, vips: [`${'a'.repeat(250)}@example.test`] }, 'invalid_request'],
      [{ enabled: true }, 'invalid_request'],
    ];
    for (const [body, code] of cases) {
      const refused = await api(base(), 'PUT', '/v1/devices/current/quiet-hours', { token, body });
      assert.deepEqual([refused.status, refused.body.error?.code], [400, code], JSON.stringify(body).slice(0, 120));
    }
    assert.deepEqual((await api(base(), 'GET', '/v1/devices/current/quiet-hours', { token })).body.quietHours, saved);
    const mine = (await api(base(), 'GET', '/v1/devices', { token })).body.devices[0].id as string;
    const stranger = await mailbox();
    assert.equal((await api(base(), 'GET', `/v1/devices/${mine}/quiet-hours`, { token: stranger.token })).status, 404);
    const taken = await api(base(), 'PUT', `/v1/devices/${mine}/quiet-hours`, { token: stranger.token, body: { ...saved, enabled: false } });
    assert.deepEqual([taken.status, taken.body.error.code], [404, 'not_found']);
    assert.deepEqual((await api(base(), 'GET', '/v1/devices/current/quiet-hours', { token })).body.quietHours, saved, 'unchanged');
    assert.equal((await api(base(), 'GET', '/v1/devices/current/quiet-hours', { token: stranger.token })).body.quietHours.enabled, false, 'a device that set none');
  });
});

describe('push service answers', () => {
  test('410 Gone removes the subscription at once', async () => {
    const { user, token, accountId } = await mailbox();
    const sub = await subscribe(token, push.subscribe(`gone-${accountId}`, [{ status: 410 }]));
    await dovecot.deliver(user.email, buildMessage({ from: { address: 'a@example.test' }, to: user.email, subject: 'to nowhere' }));
    await waitFor(async () => (await api(base(), 'GET', '/v1/push/subscriptions', { token })).body.subscriptions.length === 0, { timeoutMs: 10_000, what: 'removal' });
    assert.equal((await api(base(), 'DELETE', `/v1/push/subscriptions/${sub.id}`, { token })).status, 404);
  });

  test('429 is retried after Retry-After; 500 and a hung service are retried with backoff', async () => {
    const { user, token, accountId } = await mailbox();
    await subscribe(token, push.subscribe(`limited-${accountId}`, [{ status: 429, headers: { 'retry-after': '2' } }, { status: 201 }]));
    await subscribe(token, push.subscribe(`flaky-${accountId}`, [{ status: 500 }, { status: 201 }]));
    await subscribe(token, push.subscribe(`hung-${accountId}`, ['hang', { status: 201 }]));
    const sentAt = Date.now();
    await dovecot.deliver(user.email, buildMessage({ from: { address: 'a@example.test' }, to: user.email, subject: 'eventually' }));
    await waitFor(() => ['limited', 'flaky', 'hung'].every((n) => deliveredTo(`${n}-${accountId}`).length === 1), { timeoutMs: 20_000, what: 'all three delivered after retries' });
    const limited = deliveredTo(`limited-${accountId}`)[0]!;
    assert.ok(limited.at - sentAt >= 2000, `Retry-After honoured (${limited.at - sentAt} ms)`);
    assert.ok(deliveredTo(`hung-${accountId}`)[0]!.at - sentAt >= 1000, 'the hung request timed out first');
    assert.equal((await api(base(), 'GET', '/v1/push/subscriptions', { token })).body.subscriptions.length, 3, 'none removed');
  });

  test('a subscription deleted while its push waits for a retry gets nothing more', async () => {
    const { user, token, accountId } = await mailbox();
    const name = `deleted-${accountId}`;
    const sub = await subscribe(token, push.subscribe(name, [{ status: 429, headers: { 'retry-after': '2' } }, { status: 201 }]));
    // The sentinel: a second subscription of the same user, told to retry a second later.
    const sentinel = `sentinel-${accountId}`;
    await subscribe(token, push.subscribe(sentinel, [{ status: 429, headers: { 'retry-after': '3' } }, { status: 201 }]));
    await dovecot.deliver(user.email, buildMessage({ from: { address: 'a@example.test' }, to: user.email, subject: 'not for long' }));
    await waitFor(() => push.requests(name) === 1 && push.requests(sentinel) === 1, { timeoutMs: 10_000, what: 'the first attempts' });
    assert.equal((await api(base(), 'DELETE', `/v1/push/subscriptions/${sub.id}`, { token })).status, 204);
    // The deleted subscription's retry was due a second before the sentinel's: had it (wrongly) been
    // sent, it would have arrived first.
    await waitFor(() => deliveredTo(sentinel).length === 1, { timeoutMs: 15_000, what: 'the sentinel\'s retry' });
    assert.equal(push.requests(name), 1, 'no retry to a deleted subscription');
    assert.equal(deliveredTo(name).length, 0);
  });

  test('413 is resent with preview none; a test notification can be sent on demand', async () => {
    const { user, token, accountId } = await mailbox();
    const sub = await subscribe(token, push.subscribe(`big-${accountId}`, [{ status: 413 }, { status: 201 }]), { preview: 'full' });
    await dovecot.deliver(user.email, buildMessage({ from: { name: 'Someone', address: 'a@example.test' }, to: user.email, subject: 'too big for them' }));
    await waitFor(() => deliveredTo(`big-${accountId}`).length === 1, { timeoutMs: 10_000, what: 'the smaller resend' });
    assert.equal(deliveredTo(`big-${accountId}`)[0]!.payload.title, 'New mail');
    const tested = await api(base(), 'POST', `/v1/push/subscriptions/${sub.id}/test`, { token });
    assert.equal(tested.status, 202);
    await waitFor(() => deliveredTo(`big-${accountId}`).some((r) => r.payload.type === 'test'), { timeoutMs: 10_000, what: 'test push' });
  });
});

describe('subscription validation', () => {
  test('bad subscriptions get a clear 400 and nothing is stored; the same endpoint updates in place', async () => {
    const { token, accountId } = await mailbox();
    const good = push.subscribe(`valid-${accountId}`);
    const cases: Array<[unknown, number, string]> = [
      [{ subscription: { ...good, endpoint: 'http://127.0.0.1/push' } }, 400, 'invalid_push_endpoint'],
      [{ subscription: { ...good, endpoint: 'not a url' } }, 400, 'invalid_push_endpoint'],
      [{ subscription: { ...good, endpoint: `https://example.test/${'x'.repeat(2100)}` } }, 400, 'invalid_request'],
      [{ subscription: { ...good, keys: { ...good.keys, p256dh: Buffer.alloc(65, 4).toString('base64url') } } }, 400, 'invalid_subscription_key'],
      [{ subscription: { ...good, keys: { ...good.keys, p256dh: Buffer.alloc(33, 2).toString('base64url') } } }, 400, 'invalid_subscription_key'],
      [{ subscription: { ...good, keys: { ...good.keys, auth: Buffer.alloc(8).toString('base64url') } } }, 400, 'invalid_subscription_key'],
      [{ subscription: { ...good, keys: { ...good.keys, auth: '***' } } }, 400, 'invalid_subscription_key'],
      [{ subscription: good, accounts: ['acc_not_mine'] }, 400, 'unknown_account'],
      [{ subscription: good, preview: 'everything' }, 400, 'invalid_request'],
      [{ subscription: { endpoint: good.endpoint } }, 400, 'invalid_request'],
    ];
    for (const [body, status, code] of cases) {
      const response = await api(base(), 'POST', '/v1/push/subscriptions', { token, body });
      assert.equal(response.status, status, JSON.stringify(body).slice(0, 200));
      assert.equal(response.body.error.code, code);
    }
    assert.equal((await api(base(), 'GET', '/v1/push/subscriptions', { token })).body.subscriptions.length, 0);
    assert.equal((await api(base(), 'POST', '/v1/push/subscriptions', { body: { subscription: good } })).status, 401);

    const first = await api(base(), 'POST', '/v1/push/subscriptions', { token, body: { subscription: good } });
    assert.equal(first.status, 201);
    assert.equal(first.body.preview, 'sender', 'sender is the default preview');
    const again = await api(base(), 'POST', '/v1/push/subscriptions', { token, body: { subscription: good, preview: 'full', accounts: [accountId] } });
    assert.equal(again.status, 200);
    assert.equal(again.body.id, first.body.id, 'no twin');
    assert.equal(again.body.preview, 'full');
    const list = await api(base(), 'GET', '/v1/push/subscriptions', { token });
    assert.deepEqual(list.body.subscriptions.map((s: { id: string }) => s.id), [first.body.id]);
    assert.equal(list.body.subscriptions[0].endpointOrigin, push.origin);
  });
});

test('private push endpoints are refused (SSRF), and a user may keep only so many subscriptions', async () => {
  const strict = await startTestGateway({
    role: 'web', redisUrl: redis.url, imapPort: dovecot.imapPort,
    env: { VAPID_PUBLIC_KEY: vapidKeys.publicKey, VAPID_PRIVATE_KEY: vapidKeys.privateKey, VAPID_SUBJECT: 'https://ops.example.test', PUSH_MAX_SUBSCRIPTIONS: '2' },
  });
  try {
    const { token } = await mailbox();
    const keys = push.subscribe('unused').keys;
    for (const endpoint of ['https://127.0.0.1/push/x', 'https://localhost/push/x', 'https://10.1.2.3/x', 'https://[::1]/x', 'https://169.254.169.254/latest']) {
      const refused = await api(strict.url!, 'POST', '/v1/push/subscriptions', { token, body: { subscription: { endpoint, keys } } });
      assert.equal(refused.status, 403, endpoint);
      assert.equal(refused.body.error.code, 'push_endpoint_not_allowed');
    }
    // Public-looking names are fine to store (they are checked again when sending).
    for (const n of [1, 2]) {
      const ok = await api(strict.url!, 'POST', '/v1/push/subscriptions', { token, body: { subscription: { endpoint: `https://1.1.1.1/push/${n}`, keys } } });
      assert.equal(ok.status, 201);
    }
    const third = await api(strict.url!, 'POST', '/v1/push/subscriptions', { token, body: { subscription: { endpoint: 'https://1.1.1.1/push/3', keys } } });
    assert.equal(third.status, 409);
    assert.equal(third.body.error.code, 'push_subscription_limit');
  } finally {
    await strict.stop();
  }
});

test('start-up refuses malformed VAPID keys with one line naming the variable', async () => {
  const { loadConfig, ConfigError } = await import('../../src/config.js');
  const env = { REDIS_URL: redis.url, MAILPUSH_SECRET: 'push-test-secret-long-enough-for-32-characters', VAPID_SUBJECT: 'mailto:a@example.test' };
  assert.throws(() => loadConfig({ ...env, VAPID_PUBLIC_KEY: 'abc', VAPID_PRIVATE_KEY: vapidKeys.privateKey }), (e: unknown) => e instanceof ConfigError && e.variable === 'VAPID_PUBLIC_KEY');
  assert.throws(() => loadConfig({ ...env, VAPID_PUBLIC_KEY: vapidKeys.publicKey, VAPID_PRIVATE_KEY: 'short' }), (e: unknown) => e instanceof ConfigError && e.variable === 'VAPID_PRIVATE_KEY');
  assert.throws(() => loadConfig({ ...env, VAPID_PUBLIC_KEY: vapidKeys.publicKey, VAPID_PRIVATE_KEY: vapidKeys.privateKey, VAPID_SUBJECT: 'ops@example' }), (e: unknown) => e instanceof ConfigError && e.variable === 'VAPID_SUBJECT');
});
