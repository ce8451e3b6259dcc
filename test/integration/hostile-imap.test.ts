// A hostile IMAP server cannot hurt anyone else: a real `mailpush all` process watches alice on
// the real Dovecot and, at the same time, accounts on a server that announces a 900 MB literal,
// sends a line without end, floods one response with literals, or announces 200,000 messages and
// answers the count with an endless UID list. The process must live with its memory bounded,
// the hostile accounts must show `error`, and alice must keep getting her mail. Registration
// against a server that stalls or floods must answer a clear error within its deadline.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Dovecot } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import { gatewayEnv } from '../helpers/gateway-env.js';
import { api, openReadyStream, registerWatched } from '../helpers/gateway.js';
import { startHostileImap, type HostileImap } from '../helpers/hostile-imap.js';
import { buildMessage } from '../helpers/message.js';
import type { MailpushProcess } from '../helpers/processes.js';
import type { RedisServer } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const MiB = 1024 * 1024;
/**
 * How far the gateway's peak RSS may rise above its RSS with alice alone. Four hostile
 * connections at a time, each holding at most one response in flight under
 * IMAP_RESPONSE_LIMITS (src/imap/client.ts): 16 MiB of bytes, a copy when imapflow joins them,
 * and at most 200,000 parsed tokens (~20 MB): about 50 MB each, 200 MB in all in the worst case
 * (in practice the 900 MB literal is refused at its announcement and the rest stop at 8 to
 * 16 MiB). Without the limits a single one of them makes the process read 900 MB to 1 GiB.
 */
const PEAK_GROWTH_BOUND = 256 * MiB;
/** IMAP_CONNECT_TIMEOUT_SECONDS of the gateway under test: the registration check's deadline. */
const CONNECT_TIMEOUT_S = 3;

const fixtures = useFixtures();
let dovecot: Dovecot;
let redis: RedisServer;
let hostile: HostileImap;
let slowGreeter: HostileImap;
let gateway: MailpushProcess;
let base: string;

before(async () => {
  [dovecot, redis, hostile, slowGreeter] = await Promise.all([
    fixtures.dovecot(),
    fixtures.redis(),
    fixtures.start('hostile IMAP server', startHostileImap(), (h) => h.close()),
    fixtures.start('slow-greeting IMAP server', startHostileImap({ greeting: 'drip' }), (h) => h.close()),
  ]);
  const env = gatewayEnv({
    redisUrl: redis.url,
    imapPort: dovecot.imapPort,
    env: {
      IMAP_ALLOWED_PORTS: [dovecot.imapPort, hostile.port, slowGreeter.port].join(','),
      IMAP_CONNECT_TIMEOUT_SECONDS: String(CONNECT_TIMEOUT_S),
    },
  });
  // Alice, carol and bob, in one passwd-file write (a second each otherwise) while the gateway starts.
  [gateway] = await Promise.all([fixtures.mailpush('all', env), dovecot.reserveUsers(3)]);
  base = gateway.url!;
});

/** The process's resident memory now and at its peak, from the kernel. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

function alive(): Promise<boolean> {
  return Promise.race([gateway.exited.then(() => false), new Promise<boolean>((resolve) => setImmediate(() => resolve(true)))]);
}

const mail = (to: string, subject: string) => buildMessage({ from: { address: 'friend@example.test' }, to, subject });
const hostileImap = (user: string) => ({ host: '127.0.0.1', port: hostile.port, security: 'none', user, pass: 'secret' });

test('hostile IMAP servers are dropped at their limits while alice keeps getting mail and memory stays bounded', async (t) => {
  const alice = await registerWatched(base, dovecot);
  const stream = await openReadyStream(base, alice.token);
  await dovecot.deliver(alice.user.email, mail(alice.user.email, 'before the attack'));
  await stream.waitFor((m) => m.type === 'mail.new' && m.data.subject === 'before the attack', 10_000, 'the first mail');
  const before = memory(gateway.pid);

  // Mallory registers four mailboxes on her own server: each logs in fine, then misbehaves.
  const behaviours = ['huge-literal', 'endless-line', 'response-flood', 'exists-flood'];
  let malloryToken: string | undefined;
  for (const behaviour of behaviours) {
    const created = await api(base, 'POST', '/v1/accounts', { token: malloryToken, body: { imap: hostileImap(`${behaviour}@evil.test`) } });
    assert.equal(created.status, 201, `${behaviour} registers: ${JSON.stringify(created.body)}`);
    malloryToken ??= created.body.token as string;
  }

  // Alice's mail arrives while the hostile connections are being opened, flooded and dropped.
  await dovecot.deliver(alice.user.email, mail(alice.user.email, 'during the attack'));
  await stream.waitFor((m) => m.type === 'mail.new' && m.data.subject === 'during the attack', 10_000, 'mail during the attack');

  // Every hostile account is dropped again and again (backing off), and shows why.
  const users = behaviours.map((b) => `${b}@evil.test`);
  await waitFor(() => users.every((u) => hostile.connections(u) >= 3), { timeoutMs: 60_000, what: 'three rounds of every hostile account' });
  // Each shows `error` between attempts (and `reconnecting` during them): seen in error by GET.
  const inError = new Map<string, string>();
  await waitFor(async () => {
    const listed = (await api(base, 'GET', '/v1/accounts', { token: malloryToken })).body.accounts as Array<{ imap: { user: string }; state: string; lastError?: string }>;
    for (const a of listed) if (a.state === 'error') inError.set(a.imap.user, a.lastError ?? '');
    return inError.size === users.length;
  }, { timeoutMs: 30_000, what: 'every hostile account seen in error' });
  for (const [user, lastError] of inError) {
    assert.match(lastError, /more than this gateway accepts in one response/, `${user} says why`);
  }
  for (const user of users) {
    // What the gateway read before dropping: far below what the server meant to send.
    assert.ok(hostile.hostileBytes(user) / hostile.connections(user) < 64 * MiB, `${user}: ${hostile.hostileBytes(user)} bytes over ${hostile.connections(user)} connections`);
  }

  await dovecot.deliver(alice.user.email, mail(alice.user.email, 'after the attack'));
  await stream.waitFor((m) => m.type === 'mail.new' && m.data.subject === 'after the attack', 10_000, 'mail after the attack');
  assert.deepEqual(stream.events('mail.new').map((e) => e.data.subject), ['before the attack', 'during the attack', 'after the attack']);
  assert.equal(stream.closeCode, undefined, 'alice\'s socket stayed open');

  const after = memory(gateway.pid);
  t.diagnostic(`RSS with alice alone ${(before.rss / MiB).toFixed(0)} MiB; after the attack ${(after.rss / MiB).toFixed(0)} MiB, peak ${(after.peak / MiB).toFixed(0)} MiB`);
  assert.ok(await alive(), 'the gateway process lives');
  assert.equal((await api(base, 'GET', '/healthz')).status, 200);
  assert.ok(
    after.peak - before.rss < PEAK_GROWTH_BOUND,
    `peak RSS ${(after.peak / MiB).toFixed(0)} MiB rose ${((after.peak - before.rss) / MiB).toFixed(0)} MiB above ${(before.rss / MiB).toFixed(0)} MiB (bound ${PEAK_GROWTH_BOUND / MiB} MiB)`,
  );
  stream.close();
});

test('a message too large to read (a 6 MiB Subject, from a hostile sender) costs its user one mail.batch, not the account', async () => {
  const carol = await registerWatched(base, dovecot);
  const stream = await openReadyStream(base, carol.token);
  // One header line of 6 MiB: Dovecot hands it on whole as a literal above the 4 MiB limit.
  await dovecot.deliver(carol.user.email, mail(carol.user.email, 'S'.repeat(6 * MiB)));
  const batch = await stream.waitFor((m) => m.type === 'mail.batch', 20_000, 'the oversized message counted');
  assert.deepEqual({ count: batch.data.count, firstUid: batch.data.firstUid, lastUid: batch.data.lastUid }, { count: 1, firstUid: 1, lastUid: 1 });
  assert.ok(stream.events('account.state').some((e) => e.data.state === 'error'), 'the drop was shown');

  await dovecot.deliver(carol.user.email, mail(carol.user.email, 'after the oversized one'));
  const next = await stream.waitFor((m) => m.type === 'mail.new', 10_000, 'the next mail, read as usual');
  assert.equal(next.data.uid, 2);
  assert.equal(next.data.subject, 'after the oversized one');
  assert.equal((await carol.account()).state, 'idle');
  stream.close();
});

test('a SELECT answered one byte at a time is cut at the deadline and retried, not left connecting for ever', async () => {
  const user = 'select-drip@evil.test';
  const created = await api(base, 'POST', '/v1/accounts', { body: { imap: hostileImap(user) } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const account = async () => (await api(base, 'GET', `/v1/accounts/${created.body.account.id}`, { token: created.body.token })).body.account;
  // Without the deadline only IMAP_SOCKET_TIMEOUT_SECONDS (300 s of silence) could end it, and the drip is never silent.
  const cut = await waitFor(async () => {
    const a = await account();
    return new RegExp(`did not complete SELECT INBOX within ${CONNECT_TIMEOUT_S} s`).test(a.lastError ?? '') && a;
  }, { timeoutMs: 20_000, what: 'the SELECT cut at the deadline' });
  assert.equal(cut.state, 'reconnecting');
  await waitFor(() => hostile.connections(user) >= 2, { timeoutMs: 5000, what: 'a new attempt' });
  assert.ok(hostile.open(user) <= 1, 'the cut connection was closed');
});

/** Registers a mailbox on a hostile server for alice's user; returns the answer and how long it took. */
async function registerHostile(token: string, port: number, user: string) {
  const started = Date.now();
  const response = await api(base, 'POST', '/v1/accounts', { token, body: { imap: { ...hostileImap(user), port } } });
  return { response, ms: Date.now() - started };
}

test('registration against a stalling or flooding server answers 502 imap_unreachable within the deadline, holds nothing and stores nothing', async () => {
  const bob = await registerWatched(base, dovecot);
  const cases = [
    { what: 'a greeting one byte at a time', port: slowGreeter.port, server: slowGreeter, user: 'someone@evil.test', message: /timed out|within/ },
    { what: 'a LOGIN answer one byte at a time', port: hostile.port, server: hostile, user: 'login-drip@evil.test', message: /timed out|within/ },
    { what: 'a 900 MB literal in the LOGIN answer', port: hostile.port, server: hostile, user: 'login-literal@evil.test', message: /more than this gateway accepts/ },
    // Within a worker's limits, but a login check holds at most 128 KiB (LOGIN_CHECK_LIMITS).
    { what: 'a whole 1 MiB literal in a successful LOGIN answer', port: hostile.port, server: hostile, user: 'login-mib@evil.test', message: /more than this gateway accepts/ },
  ];
  // All at once: each case has a server or a user of its own, and two of them take the whole deadline.
  await Promise.all(cases.map(async (c) => {
    const { response, ms } = await registerHostile(bob.token, c.port, c.user);
    assert.equal(response.status, 502, `${c.what}: ${JSON.stringify(response.body)}`);
    assert.equal(response.body.error.code, 'imap_unreachable', c.what);
    assert.match(response.body.error.message, c.message, c.what);
    // The deadline, plus room for a loaded machine; the server would have gone on for ever.
    assert.ok(ms < CONNECT_TIMEOUT_S * 1000 + 2000, `${c.what}: answered after ${ms} ms`);
    // Nothing of ours stays on that server after the answer.
    await waitFor(() => c.server.open(c.server === slowGreeter ? undefined : c.user) === 0, { timeoutMs: 2000, what: `${c.what}: the connection closed` });
  }));
  const listed = await api(base, 'GET', '/v1/accounts', { token: bob.token });
  assert.deepEqual(listed.body.accounts.map((a: { id: string }) => a.id), [bob.accountId], 'no account was stored');
  assert.ok(await alive(), 'the gateway process lives');
});
