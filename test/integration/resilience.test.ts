// Faults below the gateway: a connection that silently stops carrying packets, a Redis restart,
// a flood of logins after a restart, and a client whose `since` has been trimmed away.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Dovecot } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import type { RedisServer } from '../helpers/redis.js';
import { buildMessage } from '../helpers/message.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { api, openReadyStream, registerWatched, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';

let dovecot: Dovecot;
let redis: RedisServer;

const fixtures = useFixtures();

before(async () => {
  [dovecot, redis] = await Promise.all([fixtures.dovecot(), fixtures.redis({ appendOnly: true })]);
});

async function gateway(env: Record<string, string> = {}, role: 'all' | 'worker' | 'web' = 'all'): Promise<TestGateway> {
  return fixtures.gateway({ role, redisUrl: redis.url, imapPort: dovecot.imapPort, env });
}

async function watched(base: string, imap: Record<string, unknown> = {}) {
  const { user, token, accountId } = await registerWatched(base, dovecot, { imap });
  return { user, token, accountId, stream: await openReadyStream(base, token) };
}

const mail = (to: string, subject: string) => buildMessage({ from: { address: 'a@example.test' }, to, subject });

test('a black-holed IMAP connection is detected by the socket timeout, reconnected and caught up', async () => {
  const proxy = await startTcpProxy(dovecot.imapPort);
  try {
    const gw = await gateway({ IMAP_SOCKET_TIMEOUT_SECONDS: '2', IMAP_ALLOWED_PORTS: `${dovecot.imapPort},${proxy.port}` });
    const { user, stream } = await watched(gw.url!, { port: proxy.port });
    proxy.blackHoleExisting();
    await dovecot.deliver(user.email, mail(user.email, 'sent into the void'));
    const event = await stream.waitFor((m) => m.type === 'mail.new', 15_000, 'mail.new after reconnect');
    assert.equal(event.data.subject, 'sent into the void');
    assert.equal(event.data.catchUp, true, 'found by the catch-up after reconnecting');
    assert.ok(stream.events('account.state').some((e) => e.data.state === 'reconnecting'), 'the user saw the reconnect');
    stream.close();
    await gw.stop();
  } finally {
    await proxy.close();
  }
});

test('Redis restarted: everything is still there, and mail delivered meanwhile is notified once', async () => {
  const gw = await gateway();
  const { user, token, accountId, stream } = await watched(gw.url!);
  await dovecot.deliver(user.email, mail(user.email, 'before'));
  await stream.waitFor((m) => m.type === 'mail.new' && m.data.subject === 'before', 10_000, 'first mail');

  const logged = gw.logs.length;
  await redis.stop();
  await dovecot.deliver(user.email, mail(user.email, 'while Redis was away 1'));
  await dovecot.deliver(user.email, mail(user.email, 'while Redis was away 2'));
  // Start it again only once the gateway has noticed it is gone.
  await waitFor(() => gw.logs.slice(logged).some((l) => l.includes('redis connection error')), { timeoutMs: 10_000, what: 'the gateway to lose Redis' });
  await redis.start();

  await stream.waitFor((m) => m.type === 'mail.new' && m.data.subject === 'while Redis was away 2', 20_000, 'mail from the outage');
  await dovecot.deliver(user.email, mail(user.email, 'after'));
  await stream.waitFor((m) => m.type === 'mail.new' && m.data.subject === 'after', 10_000, 'live again');
  assert.deepEqual(stream.events('mail.new').map((e) => e.data.uid), [1, 2, 3, 4], 'each once, in order');
  const account = await api(gw.url!, 'GET', `/v1/accounts/${accountId}`, { token });
  assert.equal(account.status, 200, 'the account survived the restart');
  assert.equal(stream.closeCode, undefined, 'the WebSocket stayed open throughout');
  stream.close();
  await gw.stop();
});

test('a flood of logins after a worker restart stays within IMAP_CONNECT_CONCURRENCY per host', async () => {
  const env = { IMAP_CONNECT_CONCURRENCY: '2' };
  const web = await gateway(env, 'web');
  const accounts = [];
  const first = await gateway(env, 'worker');
  for (let i = 0; i < 8; i++) accounts.push(await watched(web.url!));
  await first.stop();
  const second = await gateway(env, 'worker');
  for (const { token, accountId } of accounts) {
    await waitFor(async () => (await api(web.url!, 'GET', `/v1/accounts/${accountId}`, { token })).body.account.state === 'idle', { timeoutMs: 15_000, what: 'idle' });
  }
  assert.ok(second.worker!.heldAccounts().length >= 8, 'the new worker holds every account');
  assert.equal(second.worker!.limiter.peak('127.0.0.1'), 2, 'logins queued at two in flight');
  accounts.forEach((a) => a.stream.close());
});
