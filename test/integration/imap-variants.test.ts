// Servers that are not the plain test Dovecot: IMAP over TLS (a certificate from a test CA, TLS
// required), STARTTLS, and a server without IDLE or ESEARCH.

import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { loadConfig } from '../../src/config.js';
import { connectImap } from '../../src/imap/client.js';
import { HostLimiter } from '../../src/imap/host-limiter.js';
import { gatewayEnv } from '../helpers/gateway-env.js';
import { importIntoInbox } from '../helpers/mass-import.js';
import type { Dovecot } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import type { RedisServer } from '../helpers/redis.js';
import { buildMessage } from '../helpers/message.js';
import { api, openReadyStream, registerWatched, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import type { TestCa } from '../helpers/test-ca.js';

let tlsDovecot: Dovecot;
let ca: TestCa;
let noIdleDovecot: Dovecot;
let redis: RedisServer;
const gateways: TestGateway[] = [];

const fixtures = useFixtures();

before(async () => {
  ca = await fixtures.testCa();
  [tlsDovecot, noIdleDovecot, redis] = await Promise.all([
    fixtures.dovecot({ tls: { ca, required: true } }),
    // Everything Dovecot 2.3 announces after login, except IDLE and ESEARCH (and what builds on it).
    fixtures.dovecot({ capabilities: 'IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE SORT THREAD=REFERENCES MULTIAPPEND UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC WITHIN LIST-STATUS BINARY MOVE' }),
    fixtures.redis(),
  ]);
  // The tests' mailboxes, one passwd-file write per Dovecot instead of a second's wait each.
  await Promise.all([tlsDovecot.reserveUsers(7), noIdleDovecot.reserveUsers(4)]);
});

// Each test's gateways stop with it: a worker left running would claim the next test's accounts
// with the wrong settings.
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.stop()));
});

after(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
});

async function gateway(imapPort: number, env: Record<string, string> = {}, role: 'all' | 'web' = 'all'): Promise<string> {
  const started = await startTestGateway({ role, redisUrl: redis.url, imapPort, env });
  gateways.push(started);
  return started.url!;
}

async function registerAndWait(base: string, dovecot: Dovecot, imap: Record<string, unknown>, state: string) {
  const { user, token, created } = await registerWatched(base, dovecot, { imap, state });
  const stream = await openReadyStream(base, token);
  await dovecot.deliver(user.email, buildMessage({ from: { address: 'a@example.test' }, to: user.email, subject: `over ${JSON.stringify(imap)}` }));
  const mail = await stream.waitFor((m) => m.type === 'mail.new', 10_000, 'mail.new');
  stream.close();
  return { created: { body: created }, mail };
}

test('IMAP over TLS with verification on: a certificate from an unknown CA is refused; trusted through IMAP_TLS_CA_FILE, LMTP mail arrives as mail.new', async () => {
  const strict = await gateway(tlsDovecot.imapsPort, { IMAP_DEFAULT_SECURITY: 'tls' }, 'web');
  const user = await tlsDovecot.addUser();
  const refused = await api(strict, 'POST', '/v1/accounts', { body: { imap: { user: user.user, pass: user.pass } } });
  assert.equal(refused.status, 502);
  assert.equal(refused.body.error.code, 'imap_unreachable');
  assert.match(refused.body.error.message, /certificate/i);

  const trusting = await gateway(tlsDovecot.imapsPort, { IMAP_DEFAULT_SECURITY: 'tls', IMAP_TLS_CA_FILE: ca.caFile });
  const { created, mail } = await registerAndWait(trusting, tlsDovecot, {}, 'idle');
  assert.equal(created.body.account.imap.security, 'tls');
  assert.equal(created.body.account.imap.port, tlsDovecot.imapsPort);
  assert.match(mail.data.subject, /^over/);
});

// The tests' Dovecot 2.3 (a login process per connection, its default) sends TLS 1.3 tickets but
// never resumes them (docs/benchmarks.md), so resumption is shown through a TLS-terminating front,
// as big providers run one, before Dovecot.
test('a second TLS login to the same server resumes the first one\'s TLS session', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'mailpush-tls-front-'));
  const front = await startTcpProxy(tlsDovecot.imapPort, tlsDovecot.host, { tls: await ca.issue(dir) });
  after(async () => {
    await front.close();
    await rm(dir, { recursive: true, force: true });
  });
  const config = loadConfig(gatewayEnv({ imapPort: front.port, env: { IMAP_DEFAULT_SECURITY: 'tls', IMAP_TLS_CA_FILE: ca.caFile } }));
  const options = { config, limiter: new HostLimiter(2) };
  const user = await tlsDovecot.addUser();
  const settings = { host: tlsDovecot.host, port: front.port, security: 'tls', user: user.user } as const;
  const sessionReused = async () => {
    const client = await connectImap(settings, user.pass, options);
    const reused = (client as unknown as { socket: TLSSocket }).socket.isSessionReused();
    await client.logout();
    return reused;
  };
  assert.equal(await sessionReused(), false, 'the first login makes a full handshake');
  assert.equal(await sessionReused(), true, 'the second resumes it');
});

// Offering a session costs a parse of it and a larger ClientHello per login: not worth it to a
// server that takes none back.
test('Dovecot 2.3 with a login process per connection, which never resumes a TLS session, is offered none after three logins that left theirs unused', async () => {
  const config = loadConfig(gatewayEnv({ imapPort: tlsDovecot.imapsPort, env: { IMAP_DEFAULT_SECURITY: 'tls', IMAP_TLS_CA_FILE: ca.caFile } }));
  const options = { config, limiter: new HostLimiter(2) };
  const user = await tlsDovecot.addUser();
  const settings = { host: tlsDovecot.host, port: tlsDovecot.imapsPort, security: 'tls', user: user.user } as const;
  const logins: Array<{ offered: boolean; reused: boolean }> = [];
  for (let i = 0; i < 5; i++) {
    const client = await connectImap(settings, user.pass, options);
    // What this connection's TLS handshake was given (imapflow keeps its options).
    const offered = (client as unknown as { options: { tls?: { session?: Buffer } } }).options.tls?.session !== undefined;
    logins.push({ offered, reused: (client as unknown as { socket: TLSSocket }).socket.isSessionReused() });
    await client.logout();
  }
  assert.deepEqual(logins.map((login) => login.reused), [false, false, false, false, false], 'Dovecot resumed a session: this test no longer shows anything');
  assert.deepEqual(logins.map((login) => login.offered), [false, true, true, true, false], 'the first has none to offer; three go unused; then none is offered');
});

// At a worker's start thousands of logins wait for a slot: each is handed its TLS options when its
// turn comes, so what the logins before it taught (here: that Dovecot resumes nothing) applies.
test('logins queued behind the host limit get their TLS options when their turn comes, after what earlier logins learnt', async () => {
  const config = loadConfig(gatewayEnv({ imapPort: tlsDovecot.imapsPort, env: { IMAP_DEFAULT_SECURITY: 'tls', IMAP_TLS_CA_FILE: ca.caFile } }));
  const options = { config, limiter: new HostLimiter(1) };
  const user = await tlsDovecot.addUser();
  const settings = { host: tlsDovecot.host, port: tlsDovecot.imapsPort, security: 'tls', user: user.user } as const;
  const offered = (client: Awaited<ReturnType<typeof connectImap>>) => (client as unknown as { options: { tls?: { session?: Buffer } } }).options.tls?.session !== undefined;
  const first = await connectImap(settings, user.pass, options);
  await first.logout();
  // Six at once, one slot: all were asked for while the worker still had a session to offer.
  const queued = await Promise.all(Array.from({ length: 6 }, () => connectImap(settings, user.pass, options)));
  assert.deepEqual(queued.map(offered), [true, true, true, false, false, false], 'three offers go unused; the logins after them are offered none');
  await Promise.all(queued.map((client) => client.logout()));
});

// A worker holds thousands of connections, mostly to a few servers (lean-imapflow.ts).
test('connections to one server share one copy of its capability list; a server with another list gets its own', async () => {
  const config = loadConfig(gatewayEnv({ imapPort: tlsDovecot.imapsPort, env: { IMAP_TLS_CA_FILE: ca.caFile, IMAP_ALLOWED_PORTS: `${tlsDovecot.imapsPort},${noIdleDovecot.imapPort}` } }));
  const options = { config, limiter: new HostLimiter(4) };
  const [first, second, other] = await Promise.all([tlsDovecot.addUser(), tlsDovecot.addUser(), noIdleDovecot.addUser()]);
  const clients = await Promise.all([
    connectImap({ host: tlsDovecot.host, port: tlsDovecot.imapsPort, security: 'tls', user: first.user }, first.pass, options),
    connectImap({ host: tlsDovecot.host, port: tlsDovecot.imapsPort, security: 'tls', user: second.user }, second.pass, options),
    connectImap({ host: noIdleDovecot.host, port: noIdleDovecot.imapPort, security: 'none', user: other.user }, other.pass, options),
  ]);
  try {
    const [a, b, c] = clients;
    assert.equal(a.capabilities, b.capabilities, 'one Map for both connections to the TLS Dovecot');
    assert.equal(a.capabilities.has('IDLE'), true);
    assert.notEqual(c.capabilities, a.capabilities);
    assert.equal(c.capabilities.has('IDLE'), false, 'the other server keeps its own list');
    // Shared, and still in use: each connection's own commands work.
    assert.deepEqual(await Promise.all(clients.map(async (client) => ((await client.status('INBOX', { messages: true })) || undefined)?.messages)), [0, 0, 0]);
  } finally {
    await Promise.all(clients.map((client) => client.logout()));
  }
});

test('STARTTLS upgrades the plain port before logging in', async () => {
  const base = await gateway(tlsDovecot.imapPort, { IMAP_TLS_REJECT_UNAUTHORIZED: 'false', IMAP_ALLOWED_PORTS: `${tlsDovecot.imapPort},${noIdleDovecot.imapPort}` });
  const { created } = await registerAndWait(base, tlsDovecot, { security: 'starttls', port: tlsDovecot.imapPort }, 'idle');
  assert.equal(created.body.account.imap.security, 'starttls');
  // STARTTLS against a server that does not offer it must fail, never fall back to plaintext.
  const user = await noIdleDovecot.addUser();
  const downgraded = await api(base, 'POST', '/v1/accounts', { body: { imap: { port: noIdleDovecot.imapPort, security: 'starttls', user: user.user, pass: user.pass } } });
  assert.equal(downgraded.status, 502);
});

test('a server without IDLE is polled, with state "polling", and its mail still arrives', async () => {
  const base = await gateway(noIdleDovecot.imapPort, { IMAP_POLL_INTERVAL_SECONDS: '1' });
  const { mail } = await registerAndWait(base, noIdleDovecot, {}, 'polling');
  assert.equal(mail.data.catchUp, false);
});

test('an import into a mailbox on a server without IDLE or ESEARCH becomes one mail.batch (UIDs counted as they stream)', async () => {
  const base = await gateway(noIdleDovecot.imapPort, { IMAP_POLL_INTERVAL_SECONDS: '1', EVENT_BATCH_SIZE: '5' });
  const { user, token } = await registerWatched(base, noIdleDovecot, { state: 'polling' });
  const stream = await openReadyStream(base, token);
  await importIntoInbox(noIdleDovecot.imapPort, user, 40, (imap) => assert.equal(imap.capabilities.has('ESEARCH'), false));
  const batch = await stream.waitFor((m) => m.type === 'mail.batch', 15_000, 'mail.batch');
  assert.deepEqual(batch.data, { count: 40, firstUid: 1, lastUid: 40, unseen: 40, catchUp: false });
  await noIdleDovecot.deliver(user.email, buildMessage({ from: { address: 'a@example.test' }, to: user.email, subject: 'after the import' }));
  await stream.waitFor((m) => m.type === 'mail.new' && m.data.subject === 'after the import', 10_000, 'mail after the import');
  assert.deepEqual(stream.events().map((e) => [e.type, e.data.uid ?? e.data.count]), [['mail.batch', 40], ['mail.new', 41]]);
  stream.close();
});
