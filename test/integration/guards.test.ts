// The gateway's guards: where it refuses to connect, how fast it gives up, how often it lets a
// client register, and what it never writes to a log.

import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import type { Dovecot } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { buildMessage } from '../helpers/message.js';
import WebSocket from 'ws';
import { api, startTestGateway, StreamRecorder, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';

let dovecot: Dovecot;
let redis: RedisServer;
const gateways: TestGateway[] = [];

const fixtures = useFixtures();

before(async () => {
  [dovecot, redis] = await Promise.all([fixtures.dovecot(), fixtures.redis()]);
  // The eight mailboxes of the tests, in one passwd-file write instead of a second's wait each
  // (five added at once still wait five seconds: the writes queue).
  await dovecot.reserveUsers(8);
});

// Each test's gateways stop with it: a worker left running would claim the next test's accounts
// with the wrong settings.
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.stop()));
});

after(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
});

/** A web front end only: these tests check what the API answers, no worker needs to pick anything up. */
async function gateway(env: Record<string, string>): Promise<string> {
  const started = await startTestGateway({ role: 'web', redisUrl: redis.url, imapPort: dovecot.imapPort, env });
  gateways.push(started);
  return started.url!;
}

test('loopback and private IMAP hosts are refused unless allowed; so is plaintext', async () => {
  const base = await gateway({ IMAP_ALLOW_PRIVATE: 'false', IMAP_ALLOW_INSECURE: 'false', IMAP_DEFAULT_SECURITY: 'tls' });
  const user = await dovecot.addUser();
  for (const host of ['127.0.0.1', 'localhost', '10.0.0.1', '169.254.169.254', '[::1]']) {
    const response = await api(base, 'POST', '/v1/accounts', { body: { imap: { host, port: dovecot.imapPort, user: user.user, pass: user.pass } } });
    assert.equal(response.status, 403, host);
    assert.equal(response.body.error.code, 'imap_host_not_allowed', host);
  }
  const plaintext = await api(base, 'POST', '/v1/accounts', { body: { imap: { host: '127.0.0.1', port: dovecot.imapPort, security: 'none', user: user.user, pass: user.pass } } });
  assert.equal(plaintext.status, 403);
  assert.equal(plaintext.body.error.code, 'imap_insecure_not_allowed');

  // An operator may trust one named host without opening every private address.
  const trusting = await gateway({ IMAP_ALLOW_PRIVATE: 'false', IMAP_ALLOWED_HOSTS: 'localhost' });
  const viaName = await api(trusting, 'POST', '/v1/accounts', { body: { imap: { host: 'localhost', port: dovecot.imapPort, security: 'none', user: user.user, pass: user.pass } } });
  assert.equal(viaName.status, 201);
  const viaAddress = await api(trusting, 'POST', '/v1/accounts', { body: { imap: { host: '127.0.0.1', port: dovecot.imapPort, security: 'none', user: user.user, pass: user.pass } } });
  assert.equal(viaAddress.status, 403);
});

test('a server that accepts but never greets is 502 within the configured timeout', async () => {
  const sockets: Socket[] = [];
  const silent: Server = createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as { port: number }).port;
  try {
    const base = await gateway({ IMAP_CONNECT_TIMEOUT_SECONDS: '1', IMAP_ALLOWED_PORTS: `${dovecot.imapPort},${port}` });
    const started = Date.now();
    const response = await api(base, 'POST', '/v1/accounts', { body: { imap: { host: '127.0.0.1', port, security: 'none', user: 'x', pass: 'y' } } });
    assert.equal(response.status, 502);
    assert.equal(response.body.error.code, 'imap_unreachable');
    assert.ok(Date.now() - started < 5000, 'bounded by the timeout');
  } finally {
    sockets.forEach((s) => s.destroy());
    silent.close();
  }
});

test('an IMAP port other than 143, 993 and IMAP_ALLOWED_PORTS is 403 imap_port_not_allowed, and nothing connects to it', async () => {
  const connections: Socket[] = [];
  const listener: Server = createServer((socket) => connections.push(socket));
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const port = (listener.address() as { port: number }).port;
  try {
    // Only the Dovecot port is allowed (as gatewayEnv sets it), on a host that is.
    const base = await gateway({});
    const user = await dovecot.addUser();
    const refused = await api(base, 'POST', '/v1/accounts', { body: { imap: { host: '127.0.0.1', port, security: 'none', user: user.user, pass: user.pass } } });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, 'imap_port_not_allowed');
    assert.match(refused.body.error.message, new RegExp(`port ${port} is not allowed`));
    // The check comes before any connection: the answer above came after it would have connected.
    assert.equal(connections.length, 0, 'no connection to the port');
    const allowed = await api(base, 'POST', '/v1/accounts', { body: { imap: { host: '127.0.0.1', port: dovecot.imapPort, security: 'none', user: user.user, pass: user.pass } } });
    assert.equal(allowed.status, 201, 'the allowed port still registers');
  } finally {
    connections.forEach((s) => s.destroy());
    listener.close();
  }
});

test('METRICS_PORT listens on loopback though HOST is 0.0.0.0, and where METRICS_HOST says', async () => {
  const loopback = await startTestGateway({ role: 'web', redisUrl: redis.url, imapPort: dovecot.imapPort, env: { HOST: '0.0.0.0', METRICS_PORT: '0' } });
  gateways.push(loopback);
  const opsUrl = new URL(loopback.metricsUrl!);
  assert.equal(opsUrl.hostname, '127.0.0.1');
  assert.equal((await fetch(`${opsUrl.origin}/healthz`)).status, 200);
  const everywhere = await startTestGateway({ role: 'web', redisUrl: redis.url, imapPort: dovecot.imapPort, env: { HOST: '127.0.0.1', METRICS_PORT: '0', METRICS_HOST: '0.0.0.0' } });
  gateways.push(everywhere);
  assert.equal(new URL(everywhere.metricsUrl!).hostname, '0.0.0.0');
});

test('accounts per user: one past MAX_ACCOUNTS_PER_USER is 403 limit_reached before any login, racing ones too, and a delete frees a place', async () => {
  const base = await gateway({ MAX_ACCOUNTS_PER_USER: '2' });
  const users = await Promise.all([1, 2, 3, 4, 5].map(() => dovecot.addUser()));
  const register = (user: { user: string; pass: string }, token?: string) =>
    api(base, 'POST', '/v1/accounts', { ...(token ? { token } : {}), body: { imap: { user: user.user, pass: user.pass } } });
  const first = await register(users[0]!);
  assert.equal(first.status, 201);
  const token = first.body.token as string;
  assert.equal((await register(users[1]!, token)).status, 201);
  const third = await register(users[2]!, token);
  assert.equal(third.status, 403);
  assert.equal(third.body.error.code, 'limit_reached');
  assert.match(third.body.error.message, /MAX_ACCOUNTS_PER_USER/);
  const log = await dovecot.readLog();
  assert.ok(log.includes(users[0]!.user), 'Dovecot logs the logins it sees');
  assert.ok(!log.includes(users[2]!.user), 'no login was tried for the refused mailbox');

  const listed = async () => (await api(base, 'GET', '/v1/accounts', { token })).body.accounts as Array<{ id: string }>;
  const [kept] = await listed();
  assert.equal((await api(base, 'DELETE', `/v1/accounts/${kept!.id}`, { token })).status, 204);
  // One place free, three registrations at once: at most one gets it, the limit holds.
  const racing = await Promise.all([users[2]!, users[3]!, users[4]!].map((user) => register(user, token)));
  const statuses = racing.map((r) => r.status).sort();
  assert.ok(statuses.every((s) => s === 201 || s === 403), `statuses ${statuses}`);
  assert.ok(statuses.filter((s) => s === 201).length <= 1, `statuses ${statuses}`);
  assert.ok(racing.filter((r) => r.status === 403).every((r) => r.body.error.code === 'limit_reached'));
  assert.ok((await listed()).length <= 2, 'never more than the limit');
  if (statuses.filter((s) => s === 201).length === 0) {
    // All three raced past the first check and took their accounts back: the place is still free.
    assert.equal((await register(users[2]!, token)).status, 201);
  }
  assert.equal((await listed()).length, 2, 'the freed place was taken again');
});

test('registration is rate limited per client address with a JSON 429, across web processes', async () => {
  // Its own Redis: the counters are shared by every web process on one Redis, which is the point.
  const ownRedis = await startRedis();
  const limited = () => startTestGateway({ role: 'web', redisUrl: ownRedis.url, imapPort: dovecot.imapPort, env: { REGISTER_RATE_LIMIT_PER_MINUTE: '3' } });
  const [first, second] = await Promise.all([limited(), limited()]);
  const statuses: number[] = [];
  let last;
  try {
    for (let i = 0; i < 5; i++) {
      const base = (i % 2 === 0 ? first : second).url!;
      last = await api(base, 'POST', '/v1/accounts', { body: { imap: { user: 'nobody', pass: 'wrong' } } });
      statuses.push(last.status);
    }
  } finally {
    await Promise.all([first.stop(), second.stop()]);
    await ownRedis.cleanup();
  }
  assert.deepEqual(statuses, [422, 422, 422, 429, 429]);
  assert.equal(last!.body.error.code, 'rate_limited');
});

test('passwords and tokens appear in no log line, even at debug level', async () => {
  const started = await startTestGateway({ redisUrl: redis.url, imapPort: dovecot.imapPort, env: { LOG_LEVEL: 'trace' } });
  gateways.push(started);
  const base = started.url!;
  const user = await dovecot.addUser(undefined, 'Pa55-word-that-must-not-leak');
  const wrong = await api(base, 'POST', '/v1/accounts', { body: { imap: { user: user.user, pass: 'Wrong-pass-that-must-not-leak' } } });
  assert.equal(wrong.status, 422);
  const created = await api(base, 'POST', '/v1/accounts', { body: { imap: { user: user.user, pass: user.pass } } });
  const token = created.body.token as string;
  const id = created.body.account.id as string;
  await waitFor(async () => (await api(base, 'GET', `/v1/accounts/${id}`, { token })).body.account.state === 'idle', { timeoutMs: 10_000, what: 'idle' });
  const stream = StreamRecorder.open(base, { token });
  await stream.waitFor((m) => m.type === 'ready');
  await dovecot.deliver(user.email, buildMessage({ from: { address: 'a@example.test' }, to: user.email, subject: 'hello' }));
  await stream.waitFor((m) => m.type === 'mail.new', 10_000, 'mail.new');
  await api(base, 'PATCH', `/v1/accounts/${id}`, { token, body: { imap: { pass: user.pass } } });
  stream.close();
  const logs = started.logs.join('');
  assert.ok(logs.length > 1000, 'the gateway did log');
  for (const secret of [user.pass, 'Wrong-pass-that-must-not-leak', token, token.slice(4)]) {
    assert.equal(logs.includes(secret), false, `log contains ${secret.slice(0, 6)}…`);
  }
  const stored = JSON.stringify(await started.adapters.redis!.hgetall((await started.adapters.redis!.keys(`*:acct:${id}`))[0]!));
  assert.equal(stored.includes(user.pass), false, 'the password is encrypted at rest');
  assert.equal((await started.adapters.redis!.keys('*')).some((k) => k.includes(token)), false, 'the token is stored only as a hash');
});

test('the server pings every socket and drops the ones that stop answering', async () => {
  const base = await gateway({ WS_PING_SECONDS: '1' });
  const user = await dovecot.addUser();
  const created = await api(base, 'POST', '/v1/accounts', { body: { imap: { user: user.user, pass: user.pass } } });
  const token = created.body.token as string;
  const url = `${base.replace(/^http/, 'ws')}/v1/stream`;
  const answering = new StreamRecorder(new WebSocket(url, { headers: { authorization: `Bearer ${token}` } }));
  // autoPong: false plays a phone that went out of coverage without closing the TCP connection.
  const silent = new StreamRecorder(new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, autoPong: false }));
  let pings = 0;
  answering.socket.on('ping', () => pings++);
  await Promise.all([answering.waitFor((m) => m.type === 'ready'), silent.waitFor((m) => m.type === 'ready')]);
  await silent.waitForClose(5000);
  assert.ok(pings >= 1, 'the live socket was pinged');
  assert.equal(answering.closeCode, undefined, 'a socket that answers stays open');
  answering.close();
});
