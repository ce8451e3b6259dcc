// Restarts and failures: whatever happens to the worker or the IMAP server, every delivered
// message is notified, once.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { importIntoInbox } from '../helpers/mass-import.js';
import type { Dovecot } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import type { RedisServer } from '../helpers/redis.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { buildMessage } from '../helpers/message.js';
import { api, openReadyStream, registerWatched, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';

let dovecot: Dovecot;
let redis: RedisServer;
let web: TestGateway;
let worker: TestGateway | undefined;
let base: string;

const fixtures = useFixtures();
// A test below registers a mailbox behind a proxy whose port exists only once the gateways run:
// these gateways allow any IMAP port (unsafe outside tests).
const ANY_IMAP_PORT = { IMAP_ALLOWED_PORTS: '*' };
const startWorker = () => fixtures.gateway({ role: 'worker', redisUrl: redis.url, imapPort: dovecot.imapPort, env: { EVENT_BATCH_SIZE: '5', ...ANY_IMAP_PORT } });

before(async () => {
  [dovecot, redis] = await Promise.all([fixtures.dovecot(), fixtures.redis()]);
  // The five mailboxes of the tests, in one passwd-file write (a second each otherwise) while the web process starts.
  [web] = await Promise.all([fixtures.gateway({ role: 'web', redisUrl: redis.url, imapPort: dovecot.imapPort, env: ANY_IMAP_PORT }), dovecot.reserveUsers(5)]);
  base = web.url!;
  worker = await startWorker();
});

async function watchedMailbox() {
  const { user: mailbox, token, accountId, account: state } = await registerWatched(base, dovecot);
  return { mailbox, token, accountId, state, stream: await openReadyStream(base, token) };
}

const mail = (to: string, subject: string) => buildMessage({ from: { address: 'sender@example.test' }, to, subject });

test('a restarted worker catches up on mail that arrived meanwhile, once, then batches a long absence', async () => {
  const { mailbox, stream } = await watchedMailbox();
  await dovecot.deliver(mailbox.email, mail(mailbox.email, 'live'));
  await stream.waitFor((m) => m.type === 'mail.new' && m.data.subject === 'live', 10_000, 'live mail');

  await worker!.stop();
  await dovecot.deliver(mailbox.email, mail(mailbox.email, 'while away 1'));
  await dovecot.deliver(mailbox.email, mail(mailbox.email, 'while away 2'));
  worker = await startWorker();
  await stream.waitFor((m) => m.type === 'mail.new' && m.data.subject === 'while away 2', 15_000, 'catch-up');
  const caught = stream.events('mail.new').filter((e) => e.data.subject.startsWith('while away'));
  assert.deepEqual(caught.map((e) => [e.data.uid, e.data.catchUp]), [[2, true], [3, true]]);

  await worker.stop();
  for (let i = 0; i < 8; i++) await dovecot.deliver(mailbox.email, mail(mailbox.email, `burst ${i}`));
  worker = await startWorker();
  const batch = await stream.waitFor((m) => m.type === 'mail.batch', 15_000, 'mail.batch');
  assert.deepEqual(batch.data, { count: 8, firstUid: 4, lastUid: 11, unseen: 11, catchUp: true });
  await dovecot.deliver(mailbox.email, mail(mailbox.email, 'after batch'));
  await stream.waitFor((m) => m.type === 'mail.new' && m.data.subject === 'after batch', 10_000, 'live after batch');
  const uids = stream.events('mail.new').map((e) => e.data.uid);
  assert.deepEqual(uids, [1, 2, 3, 12], 'every message once, in UID order');
  stream.close();
});

test('an import copied into a watched mailbox while it IDLEs becomes one mail.batch (counted first: 40 EXISTS past the batch size), then mail goes on', async () => {
  const { mailbox, stream } = await watchedMailbox();
  // One COPY: the worker hears one EXISTS announcing 40 messages.
  await importIntoInbox(dovecot.imapPort, mailbox, 40);
  const batch = await stream.waitFor((m) => m.type === 'mail.batch', 15_000, 'mail.batch');
  assert.deepEqual(batch.data, { count: 40, firstUid: 1, lastUid: 40, unseen: 40, catchUp: false });
  await dovecot.deliver(mailbox.email, mail(mailbox.email, 'after the import'));
  await stream.waitFor((m) => m.type === 'mail.new' && m.data.subject === 'after the import', 10_000, 'live after the import');
  assert.deepEqual(stream.events().map((e) => [e.type, e.data.uid ?? e.data.count]), [['mail.batch', 40], ['mail.new', 41]], 'every message once');
  stream.close();
});

test('Dovecot stopped and started: the account reconnects and nothing is lost or repeated', async () => {
  const { mailbox, stream, state } = await watchedMailbox();
  await dovecot.stop();
  await stream.waitFor((m) => m.type === 'account.state' && m.data.state === 'reconnecting', 10_000, 'reconnecting');
  await dovecot.start();
  await dovecot.deliver(mailbox.email, mail(mailbox.email, 'after restart'));
  await stream.waitFor((m) => m.type === 'mail.new' && m.data.subject === 'after restart', 15_000, 'mail after restart');
  await waitFor(async () => (await state()).state === 'idle', { timeoutMs: 10_000, what: 'idle again' });
  await dovecot.deliver(mailbox.email, mail(mailbox.email, 'and live again'));
  await stream.waitFor((m) => m.type === 'mail.new' && m.data.subject === 'and live again', 10_000, 'live mail');
  assert.deepEqual(stream.events('mail.new').map((e) => e.data.uid), [1, 2]);
  stream.close();
});

test('a password changed on the server stops the account at auth_failed without retrying in a loop', async () => {
  const { mailbox, token, accountId, stream, state } = await watchedMailbox();
  await dovecot.setPassword(mailbox.user, 'changed-on-the-server');
  // Drop the worker's connection so it has to log in again.
  await dovecot.stop();
  await dovecot.start();
  const failed = await stream.waitFor((m) => m.type === 'account.state' && m.data.state === 'auth_failed', 15_000, 'auth_failed');
  assert.equal(failed.accountId, accountId);
  const account = await state();
  assert.equal(account.state, 'auth_failed');
  assert.ok(account.lastError);
  const failures = async () => (await dovecot.readLog()).split('\n').filter((l) => l.includes(mailbox.user) && /auth failed|password mismatch|Authentication failed/i.test(l)).length;
  const seen = await failures();
  assert.ok(seen >= 1, 'Dovecot saw the failed login');
  // The clock to measure "no retry" against: another account of the same worker whose server is
  // down retries on the reconnect backoff (IMAP_RECONNECT_MAX_SECONDS = 1). Once it has tried three
  // times, an auth_failed account retried on that backoff would have tried at least once too.
  const attempts = (id: string, since: number) => worker!.logs.slice(since).filter((l) => l.includes(id) && l.includes('imap connection failed')).length;
  const since = worker!.logs.length;
  const proxy = await startTcpProxy(dovecot.imapPort);
  const down = await registerWatched(base, dovecot, { imap: { port: proxy.port } });
  await proxy.close(); // the port is closed now: every reconnect is refused
  await waitFor(() => attempts(down.accountId, since) >= 3, { timeoutMs: 20_000, what: 'three reconnect attempts of the account whose server is down' });
  assert.equal(attempts(accountId, since), 0, 'the worker did not try the wrong password again');
  assert.equal(await failures(), seen, 'no further login attempts');

  const fixed = await api(base, 'PATCH', `/v1/accounts/${accountId}`, { token, body: { imap: { pass: 'changed-on-the-server' } } });
  assert.equal(fixed.status, 200);
  await waitFor(async () => (await state()).state === 'idle', { timeoutMs: 10_000, what: 'idle with the new password' });
  stream.close();
});
