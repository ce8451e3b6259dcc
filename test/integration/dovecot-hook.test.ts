// Server-assisted push: a real Dovecot with push_notification (OX driver) POSTs each LMTP delivery
// to the gateway's /v1/hooks/dovecot, which wakes the worker holding the account. The hint only
// wakes: what reaches the socket is read from IMAP, so a forged or repeated hint changes nothing,
// and with the hook failing, IDLE still brings the mail.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Dovecot } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import type { RedisServer } from '../helpers/redis.js';
import { buildMessage } from '../helpers/message.js';
import { LmtpError } from '../helpers/lmtp.js';
import { api, openReadyStream, registerWatched, type StreamRecorder, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HTTP_NOTIFY_KEY } from '../../src/roles/worker/dovecot-opt-in.js';

const SECRET = 'hook-secret-0123456789abcdef';
const fixtures = useFixtures();
let dovecot: Dovecot;
let redis: RedisServer;
let gateway: TestGateway;
let base: string;
let hookUrl: string;

before(async () => {
  [dovecot, redis] = await Promise.all([fixtures.dovecot({ pushNotification: {} }), fixtures.redis()]);
  gateway = await fixtures.gateway({
    redisUrl: redis.url,
    imapPort: dovecot.imapPort,
    env: { DOVECOT_PUSH_SECRET: SECRET, DOVECOT_PUSH_HOSTS: '127.0.0.1', LOG_LEVEL: 'info' },
  });
  base = gateway.url!;
  hookUrl = `${base}/v1/hooks/dovecot?host=127.0.0.1`;
  // The gateway's port is known only now: point Dovecot's OX driver at it (config reload).
  await dovecot.setPushNotificationUrl(withCredentials('dovecot', SECRET));
  // The seven mailboxes of the tests, in one passwd-file write instead of a second's wait each.
  await dovecot.reserveUsers(7);
});

function withCredentials(user: string, pass: string): string {
  const url = new URL(hookUrl);
  url.username = user;
  url.password = pass;
  return url.toString();
}

async function hintCount(outcome: string, of: TestGateway = gateway): Promise<number> {
  const metric = await of.metrics.registry.getSingleMetric('mailpush_dovecot_hints_total')!.get();
  return metric.values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
}

async function hintLatencyCount(): Promise<number> {
  const metric = await gateway.metrics.registry.getSingleMetric('mailpush_hint_to_fanout_seconds')!.get();
  return metric.values.find((v) => (v as { metricName?: string }).metricName === 'mailpush_hint_to_fanout_seconds_count')?.value ?? 0;
}

/** A watched mailbox whose login Dovecot now notifies (METADATA set by the worker), and its stream. */
async function optedInMailbox() {
  const watched = await registerWatched(base, dovecot);
  await waitFor(async () => (await dovecot.serverMetadata(watched.user.user, HTTP_NOTIFY_KEY)) === `user=${watched.user.user}`, { timeoutMs: 10_000, what: 'http-notify METADATA' });
  const stream = await openReadyStream(base, watched.token);
  return { ...watched, stream };
}

function post(body: unknown, options: { auth?: string | null; raw?: string; url?: string } = {}) {
  const auth = options.auth === undefined ? `Basic ${Buffer.from(`dovecot:${SECRET}`).toString('base64')}` : options.auth;
  return fetch(options.url ?? hookUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
    body: options.raw ?? JSON.stringify(body),
  });
}

function notification(user: string, uid: number, uidValidity: number) {
  return { user, event: 'messageNew', folder: 'INBOX', 'imap-uidvalidity': uidValidity, 'imap-uid': uid, from: 'forged@example.test', subject: 'forged', snippet: 'forged' };
}

/** Delivers like an MTA: a 421 (an LMTP process shutting down after a reload) is tried again. */
async function deliver(to: string, subject: string): Promise<void> {
  const raw = buildMessage({ from: { name: 'Sender', address: 'sender@example.test' }, to, subject, body: `${subject}\r\n` });
  for (let attempt = 1; ; attempt++) {
    try {
      return await dovecot.deliver(to, raw);
    } catch (error) {
      const transient = error instanceof LmtpError && (error.reply?.code === 421 || /: 421 /.test(error.message));
      if (!transient || attempt === 5) throw error;
    }
  }
}

const mailNews = (stream: StreamRecorder) => stream.events('mail.new');

describe('Dovecot push notifications', () => {
  test('the worker sets http-notify for the login; a delivery wakes it through the hook and mail.new arrives', async () => {
    const { user, stream } = await optedInMailbox();
    const [woke, timed] = [await hintCount('woke'), await hintLatencyCount()];
    await deliver(user.email, 'through the hook');
    const event = await stream.waitFor((m) => m.type === 'mail.new', 10_000, 'mail.new');
    assert.equal(event.data.subject, 'through the hook');
    assert.equal(event.data.uid, 1);
    await waitFor(async () => (await hintCount('woke')) === woke + 1, { timeoutMs: 5000, what: 'the hint counted as woke' });
    await waitFor(async () => (await hintLatencyCount()) === timed + 1, { timeoutMs: 5000, what: 'hint → mail.new timed' });
    stream.close();
  });

  test('with a wrong secret in Dovecot\'s URL the hook answers 401 and the mail still arrives through IDLE', async () => {
    const { user, stream } = await optedInMailbox();
    const rejected = await hintCount('rejected');
    await dovecot.setPushNotificationUrl(withCredentials('dovecot', 'not-the-secret-at-all'));
    try {
      await deliver(user.email, 'through IDLE');
      const event = await stream.waitFor((m) => m.type === 'mail.new', 10_000, 'mail.new');
      assert.equal(event.data.subject, 'through IDLE');
      await waitFor(async () => (await hintCount('rejected')) >= rejected + 1, { timeoutMs: 5000, what: 'the 401 counted' });
      assert.equal(mailNews(stream).length, 1);
    } finally {
      await dovecot.setPushNotificationUrl(withCredentials('dovecot', SECRET));
      stream.close();
    }
  });

  test('a forged hint for a UID that does not exist, and a repeated one, produce nothing', async () => {
    const { user, stream } = await optedInMailbox();
    await deliver(user.email, 'first');
    const first = await stream.waitFor((m) => m.type === 'mail.new', 10_000, 'first mail.new');
    const uidValidity = Number(first.data.uidValidity);
    const stale = await hintCount('stale');
    // Right secret, right user: a UID far beyond the mailbox, then the one already notified.
    assert.equal((await post(notification(user.user, 4_000_000_000, uidValidity))).status, 204);
    assert.equal((await post(notification(user.user, first.data.uid, uidValidity))).status, 204);
    await waitFor(async () => (await hintCount('stale')) >= stale + 1, { timeoutMs: 5000, what: 'the repeated hint counted stale' });
    // The sentinel: the next real delivery is the next and only event after the first.
    await deliver(user.email, 'sentinel');
    await stream.waitFor((m) => m.type === 'mail.new' && m.data.subject === 'sentinel', 10_000, 'sentinel');
    assert.deepEqual(stream.events().map((e) => [e.type, e.data.subject, e.data.uid]), [['mail.new', 'first', 1], ['mail.new', 'sentinel', 2]]);
    stream.close();
  });

  test('a hint for a login nobody watches is counted unknown_user and answered 204 all the same', async () => {
    const unknown = await hintCount('unknown_user');
    assert.equal((await post(notification('nobody-here', 1, 1))).status, 204);
    await waitFor(async () => (await hintCount('unknown_user')) === unknown + 1, { timeoutMs: 5000, what: 'unknown_user counted' });
  });

  test('deleting the account removes its http-notify METADATA', async () => {
    const { user, token, accountId, stream } = await optedInMailbox();
    stream.close();
    assert.equal((await api(base, 'DELETE', `/v1/accounts/${accountId}`, { token })).status, 204);
    await waitFor(async () => (await dovecot.serverMetadata(user.user, HTTP_NOTIFY_KEY)) === undefined, { timeoutMs: 10_000, what: 'METADATA removed' });
  });

  test('a burst of deliveries: every hook request is answered at once, and every message arrives once, in order', async () => {
    const { user, stream } = await optedInMailbox();
    const burst = 100;
    const logsBefore = gateway.logs.length;
    const dovecotLogBefore = (await dovecot.readLog()).length;
    await Promise.all(Array.from({ length: burst }, (_, i) => deliver(user.email, `burst ${i}`)));
    // Every UID exactly once, in order, whether as mail.new or inside a mail.batch's span.
    const uids = (): number[] => stream.events().flatMap((e) => (e.type === 'mail.new' ? [e.data.uid] : e.type === 'mail.batch' ? Array.from({ length: e.data.count }, (_, i) => e.data.firstUid + i) : []));
    await waitFor(() => uids().length >= burst, { timeoutMs: 30_000, what: `${burst} messages` });
    assert.deepEqual(uids(), Array.from({ length: burst }, (_, i) => i + 1));
    // Dovecot waits for the hook inside each delivery: none may have failed or timed out ...
    const dovecotLog = (await dovecot.readLog()).slice(dovecotLogBefore);
    assert.doesNotMatch(dovecotLog, /push-notification-ox.*(error|failed|timed out)/i);
    // ... and each answer came without waiting for the worker (a generous bound, not a benchmark).
    const times = gateway.logs.slice(logsBefore).flatMap((chunk) => chunk.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { res?: { statusCode?: number }; responseTime?: number; req?: { url?: string } })).filter((l) => l.res?.statusCode === 204 && l.responseTime !== undefined).map((l) => l.responseTime as number);
    assert.ok(times.length >= burst, `${times.length} hook answers logged`);
    assert.ok(Math.max(...times) < 1000, `slowest hook answer ${Math.max(...times)} ms`);
    stream.close();
  });
});

describe('hook requests that are not notifications', () => {
  test('401 without or with wrong credentials, 413 over 16 KiB, 400 for anything not a notification; none is counted as a hint', async () => {
    const woke = await hintCount('woke');
    const body = notification('someone', 1, 1);
    const cases: Array<[string, Promise<Response>, number, string]> = [
      ['no credentials', post(body, { auth: null }), 401, 'unauthorized'],
      ['wrong password', post(body, { auth: `Basic ${Buffer.from('dovecot:wrong').toString('base64')}` }), 401, 'unauthorized'],
      ['wrong user', post(body, { auth: `Basic ${Buffer.from(`other:${SECRET}`).toString('base64')}` }), 401, 'unauthorized'],
      ['bearer instead of basic', post(body, { auth: `Bearer ${SECRET}` }), 401, 'unauthorized'],
      ['too large', post({ ...body, snippet: 'x'.repeat(17 * 1024) }), 413, 'payload_too_large'],
      ['not JSON', post(undefined, { raw: '{"user": ' }), 400, 'invalid_request'],
      ['missing uid', post({ ...body, 'imap-uid': undefined }), 400, 'invalid_request'],
      ['uid not a number', post({ ...body, 'imap-uid': 'one' }), 400, 'invalid_request'],
      ['negative uid', post({ ...body, 'imap-uid': -1 }), 400, 'invalid_request'],
      ['uidvalidity zero', post({ ...body, 'imap-uidvalidity': 0 }), 400, 'invalid_request'],
      ['other event', post({ ...body, event: 'messageRead' }), 400, 'invalid_request'],
      ['empty user', post({ ...body, user: '' }), 400, 'invalid_request'],
      ['host with a slash', post(body, { url: `${base}/v1/hooks/dovecot?host=a/b` }), 400, 'invalid_request'],
    ];
    for (const [what, answer, status, code] of cases) {
      const response = await answer;
      assert.equal(response.status, status, what);
      const json = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(json.error.code, code, what);
      assert.doesNotMatch(json.error.message, /at .*\.js:\d+/, `${what}: no stack trace`);
      if (status === 401) assert.match(response.headers.get('www-authenticate') ?? '', /^Basic /, what);
    }
    assert.equal(await hintCount('woke'), woke);
  });
});

describe('embedded mode and the switch', () => {
  test('embedded (no Redis): the hint goes to the worker in the same process', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'mailpush-hook-'));
    const embedded = await fixtures.gateway({ dataDir, imapPort: dovecot.imapPort, env: { DOVECOT_PUSH_SECRET: SECRET, DOVECOT_PUSH_HOSTS: '127.0.0.1', LOG_LEVEL: 'info' } });
    const url = new URL(`${embedded.url}/v1/hooks/dovecot?host=127.0.0.1`);
    url.username = 'dovecot';
    url.password = SECRET;
    await dovecot.setPushNotificationUrl(url.toString());
    try {
      const watched = await registerWatched(embedded.url!, dovecot);
      await waitFor(async () => (await dovecot.serverMetadata(watched.user.user, HTTP_NOTIFY_KEY)) !== undefined, { timeoutMs: 10_000, what: 'http-notify METADATA' });
      const stream = await openReadyStream(embedded.url!, watched.token);
      await deliver(watched.user.email, 'embedded');
      assert.equal((await stream.waitFor((m) => m.type === 'mail.new', 10_000, 'mail.new')).data.subject, 'embedded');
      await waitFor(async () => (await hintCount('woke', embedded)) === 1, { timeoutMs: 5000, what: 'woke counted' });
      stream.close();
    } finally {
      await dovecot.setPushNotificationUrl(withCredentials('dovecot', SECRET));
      await embedded.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test('without DOVECOT_PUSH_SECRET the hook answers 404 not_found, whatever the credentials', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'mailpush-hook-'));
    const off = await fixtures.gateway({ dataDir, imapPort: dovecot.imapPort, env: { LOG_LEVEL: 'warn' } });
    try {
      const response = await post(notification('someone', 1, 1), { url: `${off.url}/v1/hooks/dovecot` });
      assert.equal(response.status, 404);
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'not_found');
    } finally {
      await off.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('mailpush check-imap --watch --hook-port', () => {
  test('reports METADATA, and that Dovecot\'s hint for the new message came before its EXISTS', async () => {
    const user = await dovecot.addUser();
    await dovecot.doveadm(['mailbox', 'metadata', 'set', '-s', '-u', user.user, '', HTTP_NOTIFY_KEY, `user=${user.user}`]);
    const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
    const args = ['check-imap', '--host', '127.0.0.1', '--port', String(dovecot.imapPort), '--security', 'none', '--user', user.user, '--watch', '--watch-timeout', '20', '--hook-port', '0'];
    const child = spawn(process.execPath, [cli, ...args], { env: { PATH: process.env.PATH ?? '' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let started: Promise<void> | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const listening = /^hook\s+listening on (\S+)/m.exec(stdout)?.[1];
      if (!started && listening && /^watching /m.test(stdout)) {
        const url = new URL(listening);
        url.username = 'dovecot';
        url.password = 'anything';
        started = dovecot.setPushNotificationUrl(url.toString()).then(() => deliver(user.email, 'check me'));
      }
    });
    child.stdin.end(`${user.pass}\n`);
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(timer);
    try {
      await started;
      assert.equal(code, 0, stdout);
      assert.match(stdout, /^METADATA\s+yes: a Dovecot with push_notification/m);
      assert.match(stdout, /^new mail\s+UID 1 /m);
      assert.match(stdout, new RegExp(`^dovecot push hint for UID 1 \\(user "${user.user}"\\) arrived \\d+ ms before the EXISTS`, 'm'));
    } finally {
      await dovecot.setPushNotificationUrl(withCredentials('dovecot', SECRET));
    }
  });
});
