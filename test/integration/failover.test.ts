// Real processes: two workers and two web front ends of the built `mailpush`, one Redis (AOF),
// one Dovecot. Processes are killed and restarted while mail arrives; the user must see every
// message exactly once, in order.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Dovecot } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import { gatewayEnv } from '../helpers/gateway-env.js';
import type { RedisServer } from '../helpers/redis.js';
import { buildMessage } from '../helpers/message.js';
import { api, StreamRecorder } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';
import type { MailpushProcess } from '../helpers/processes.js';

const ADMIN = 'failover-admin-token-0123456789';
let dovecot: Dovecot;
let redis: RedisServer;
let env: Record<string, string>;
const fixtures = useFixtures();

const spawn = (role: 'web' | 'worker'): Promise<MailpushProcess> => fixtures.mailpush(role, env);

before(async () => {
  [dovecot, redis] = await Promise.all([fixtures.dovecot(), fixtures.redis({ appendOnly: true })]);
  // The six mailboxes the tests register, in one passwd-file write instead of a second each.
  await dovecot.reserveUsers(6);
  env = gatewayEnv({ redisUrl: redis.url, imapPort: dovecot.imapPort, env: { ADMIN_TOKEN: ADMIN, LEASE_TTL_MS: '2000' } });
});

/** The UIDs a client was told about, from mail.new and mail.batch, in the order it heard them. */
function notifiedUids(stream: { events(type?: string): any[] }): number[] {
  const uids: number[] = [];
  for (const event of stream.events()) {
    if (event.type === 'mail.new') uids.push(event.data.uid);
    if (event.type === 'mail.batch') for (let uid = event.data.firstUid; uid <= event.data.lastUid; uid++) uids.push(uid);
  }
  return uids;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function register(base: string) {
  const user = await dovecot.addUser();
  const created = await api(base, 'POST', '/v1/accounts', { body: { imap: { user: user.user, pass: user.pass } } });
  assert.equal(created.status, 201);
  return { user, token: created.body.token as string, accountId: created.body.account.id as string };
}

test('a joining worker takes its share; a SIGKILLed worker\'s accounts move and 100 messages arrive exactly once', async () => {
  const [workerA, webA, webB] = await Promise.all([spawn('worker'), spawn('web'), spawn('web')]);
  const accounts = await Promise.all([1, 2, 3, 4].map(() => register(webA.url!)));
  const admin = async () => (await api(webA.url!, 'GET', '/v1/admin/accounts', { token: ADMIN })).body.accounts as Array<{ id: string; state: string; worker?: string }>;
  const idleOn = async (worker: MailpushProcess) => (await admin()).filter((a) => a.worker === worker.workerId && a.state === 'idle').length;
  await waitFor(async () => (await idleOn(workerA)) === 4, { timeoutMs: 20_000, what: 'the only worker holding all four' });

  // A second worker joins: the first hands two accounts over (LOGOUT, release), the second takes them.
  const workerB = await spawn('worker');
  await waitFor(async () => (await idleOn(workerA)) === 2 && (await idleOn(workerB)) === 2, { timeoutMs: 20_000, what: 'two idle accounts on each worker' });
  // Heartbeats carry each worker's count a moment later.
  await waitFor(async () => {
    const workers = (await api(webA.url!, 'GET', '/v1/admin/workers', { token: ADMIN })).body.workers;
    return JSON.stringify(workers.map((w: { accounts: number }) => w.accounts)) === '[2,2]';
  }, { timeoutMs: 5000, what: 'GET /v1/admin/workers shows two workers with two accounts each' });

  const target = accounts[0]!;
  const holder = (await admin()).find((a) => a.id === target.accountId)!.worker;
  const victim = holder === workerA.workerId ? workerA : workerB;
  const survivor = victim === workerA ? workerB : workerA;
  // The client listens on the other web process: fan-out crosses processes through Redis.
  const stream = StreamRecorder.open(webB.url!, { token: target.token });
  await stream.waitFor((m) => m.type === 'ready');

  for (let i = 1; i <= 100; i++) {
    await dovecot.deliver(target.user.email, buildMessage({ from: { address: 'load@example.test' }, to: target.user.email, subject: `m${i}` }));
    if (i === 30) await victim.kill('SIGKILL');
  }
  await waitFor(() => notifiedUids(stream).length >= 100, { timeoutMs: 30_000, what: '100 notified messages' });
  // A sentinel after the case: a repeat of any of the 100 would have come before it.
  await dovecot.deliver(target.user.email, buildMessage({ from: { address: 'load@example.test' }, to: target.user.email, subject: 'sentinel' }));
  await waitFor(() => notifiedUids(stream).includes(101), { timeoutMs: 15_000, what: 'the sentinel (UID 101)' });
  assert.deepEqual(notifiedUids(stream), range(1, 101), 'every UID once, in order');

  await waitFor(async () => (await admin()).every((a) => a.worker === survivor.workerId && a.state === 'idle'), { timeoutMs: 15_000, what: 'the survivor holds everything' });
  stream.close();
  await Promise.all([survivor.kill('SIGTERM'), webA.kill('SIGTERM'), webB.kill('SIGTERM')]);
});

test('a rolling restart of the web processes loses nothing for a client that resumes with since', async () => {
  const worker = await spawn('worker');
  let webs = await Promise.all([spawn('web'), spawn('web')]);
  const target = await register(webs[0]!.url!);
  await waitFor(async () => (await api(webs[0]!.url!, 'GET', `/v1/accounts/${target.accountId}`, { token: target.token })).body.account.state === 'idle', { timeoutMs: 15_000, what: 'idle' });

  // A client like the PWA: on any close, reconnect to a live web process with the last id seen.
  const received: any[] = [];
  let current: StreamRecorder | undefined;
  let currentBase = '';
  const closeCodes: number[] = [];
  let stopped = false;
  const connect = (base: string) => {
    const lastId = received.at(-1)?.id;
    const stream = StreamRecorder.open(base, { token: target.token, ...(lastId ? { since: lastId } : {}) });
    currentBase = base;
    stream.socket.on('message', (data) => {
      const message = JSON.parse(data.toString());
      if (message.id) received.push(message);
    });
    stream.socket.on('close', (code) => {
      if (stopped) return;
      closeCodes.push(code);
      setTimeout(() => (current = connect(webs.find((w) => w.url !== base)!.url!)), 50);
    });
    return stream;
  };
  current = connect(webs[0]!.url!);
  await current.waitFor((m) => m.type === 'ready');

  let sent = 0;
  const deliverSome = async (n: number) => {
    for (let i = 0; i < n; i++) {
      sent++;
      await dovecot.deliver(target.user.email, buildMessage({ from: { address: 'a@example.test' }, to: target.user.email, subject: `r${sent}` }));
    }
  };
  await deliverSome(5);
  await webs[0]!.kill('SIGTERM');
  await deliverSome(5);
  webs = [await spawn('web'), webs[1]!];
  // The client has moved to the second web process before that one goes too.
  await waitFor(() => currentBase === webs[1]!.url && current?.messages.some((m) => m.type === 'ready'), { timeoutMs: 10_000, what: 'the client on the second web process' });
  await webs[1]!.kill('SIGTERM');
  await deliverSome(5);
  await waitFor(() => received.filter((e) => e.type === 'mail.new').length >= 15, { timeoutMs: 20_000, what: '15 messages' });
  // A sentinel after the case: a repeat of any of the 15 would have come before it.
  await deliverSome(1);
  await waitFor(() => received.some((e) => e.type === 'mail.new' && e.data.subject === 'r16'), { timeoutMs: 10_000, what: 'the sentinel r16' });
  stopped = true;
  const subjects = received.filter((e) => e.type === 'mail.new').map((e) => e.data.subject);
  assert.deepEqual(subjects, range(1, 16).map((i) => `r${i}`));
  const ids = received.map((e) => e.id);
  assert.equal(new Set(ids).size, ids.length, 'no event twice');
  assert.deepEqual(closeCodes, [1001, 1001], 'moved twice, each time told "Going Away"');
  current?.close();
  await Promise.all([worker.kill('SIGTERM'), ...webs.map((w) => w.kill('SIGTERM'))]);
});

test('SIGTERM: a worker logs out and releases its leases, so another takes over at once', async () => {
  const [first, web] = await Promise.all([spawn('worker'), spawn('web')]);
  const target = await register(web.url!);
  const admin = async () => (await api(web.url!, 'GET', '/v1/admin/accounts', { token: ADMIN })).body.accounts.find((a: { id: string }) => a.id === target.accountId);
  await waitFor(async () => (await admin())?.worker === first.workerId && (await admin()).state === 'idle', { timeoutMs: 15_000, what: 'held by the first worker' });
  const second = await spawn('worker');
  const logouts = async () => (await dovecot.readLog()).split('\n').filter((l) => l.includes(`(${target.user.user})`) && l.includes('Logged out')).length;
  const logoutsBefore = await logouts();
  const started = Date.now();
  await first.kill('SIGTERM');
  assert.equal((await first.exited).code, 0, 'a clean exit');
  await waitFor(async () => (await admin())?.worker === second.workerId, { timeoutMs: 5_000, what: 'taken over' });
  // Well inside the 2 s lease TTL plus the 2 s scan interval: the release and the rebalance message did it.
  assert.ok(Date.now() - started < 2500, `took ${Date.now() - started} ms`);
  await waitFor(async () => (await logouts()) > logoutsBefore, { timeoutMs: 3000, what: 'the worker\'s IMAP session to log out' }).catch(async (error: Error) => {
    const lines = (await dovecot.readLog()).split('\n').filter((l) => l.includes(`(${target.user.user})`));
    throw new Error(`${error.message}; Dovecot's last lines for the user:\n${lines.slice(-6).join('\n')}\nworker:\n${first.logs.slice(-5).map((l) => JSON.stringify(l)).join('\n')}`);
  });
  await Promise.all([second.kill('SIGTERM'), web.kill('SIGTERM')]);
});
