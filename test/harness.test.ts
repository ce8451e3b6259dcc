// Proves the test fixtures themselves work against the real servers, so that a
// failure in a gateway test can be blamed on the gateway, not on the harness.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { access } from 'node:fs/promises';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ImapFlow, type ExistsEvent, type ImapFlowError } from 'imapflow';
import { Redis } from 'ioredis';
import { startDovecot, type Dovecot, type DovecotUser } from './helpers/dovecot.js';
import { useFixtures } from './helpers/fixtures.js';
import { buildMessage, randomMessageId } from './helpers/message.js';
import { handOutNext, isPortOpen, readGreeting } from './helpers/ports.js';
import { spawnMailpush } from './helpers/processes.js';
import { startRedis, type RedisServer } from './helpers/redis.js';
import { waitFor, withTimeout } from './helpers/wait.js';

let dovecot: Dovecot | undefined;
let redis: RedisServer | undefined;

const fixtures = useFixtures();

before(async () => {
  [dovecot, redis] = await Promise.all([fixtures.dovecot(), fixtures.redis({ appendOnly: true })]);
});

function dc(): Dovecot {
  assert.ok(dovecot, 'Dovecot did not start');
  return dovecot;
}

type Credentials = Pick<DovecotUser, 'user' | 'pass'>;

/** An ImapFlow client for the test Dovecot; not yet connected. */
function imapClient(account: Credentials): ImapFlow {
  const client = new ImapFlow({
    host: dc().host,
    port: dc().imapPort,
    secure: false,
    doSTARTTLS: false, // plain IMAP on purpose: the test server has ssl = no
    auth: { user: account.user, pass: account.pass },
    logger: false,
  });
  // Without a listener an 'error' event (e.g. server shutdown) would crash
  // the test process; failures still surface through rejected promises.
  client.on('error', () => undefined);
  return client;
}

async function withImap<T>(account: Credentials, fn: (client: ImapFlow) => Promise<T>): Promise<T> {
  const client = imapClient(account);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.logout().catch(() => client.close());
  }
}

test('a user added after start can log in with imapflow', async () => {
  const account = await dc().addUser();
  assert.match(account.email, /^u[0-9a-f]+@example\.test$/);
  await withImap(account, async (client) => {
    assert.ok(client.authenticated);
    const inbox = await client.mailboxOpen('INBOX');
    assert.equal(inbox.exists, 0);
  });
});

test('LMTP delivery keeps a UTF-8 (emoji + Japanese) subject and the raw body intact', async () => {
  const account = await dc().addUser();
  const subject = '📬 新着メール：テストです 🎉 — 長い件名は複数のエンコードワードに分割されます';
  const messageId = randomMessageId();
  await dc().deliver(
    account.email,
    buildMessage({
      from: { name: '送信者 🚀', address: 'sender@example.test' },
      to: { name: 'Empfänger', address: account.email },
      subject,
      messageId,
      body: 'こんにちは\n.a line starting with a dot\nlast line',
    }),
  );
  // Legacy charset, passed through verbatim: "日本語" in ISO-2022-JP.
  const jpMessageId = randomMessageId();
  await dc().deliver(
    account.email,
    buildMessage({
      from: { address: 'sender@example.test' },
      to: account.email,
      rawSubject: '=?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=',
      messageId: jpMessageId,
    }),
  );

  await withImap(account, async (client) => {
    const lock = await client.getMailboxLock('INBOX');
    try {
      const [uid] = (await client.search({ header: { 'message-id': messageId } }, { uid: true })) || [];
      assert.ok(uid, 'delivered message not found by Message-ID');
      const message = await client.fetchOne(String(uid), { envelope: true, source: true }, { uid: true });
      assert.ok(message && message.envelope && message.source);
      assert.equal(message.envelope.subject, subject);
      assert.equal(message.envelope.from?.[0]?.name, '送信者 🚀');
      assert.equal(message.envelope.to?.[0]?.name, 'Empfänger');
      assert.equal(message.envelope.messageId, messageId);
      // Dot-stuffing was undone by the server, and the 8-bit body survived.
      const source = message.source.toString('utf8');
      assert.match(source, /\r\n\.a line starting with a dot\r\n/);
      assert.match(source, /こんにちは/);

      const [jpUid] = (await client.search({ header: { 'message-id': jpMessageId } }, { uid: true })) || [];
      assert.ok(jpUid);
      const jp = await client.fetchOne(String(jpUid), { envelope: true }, { uid: true });
      assert.ok(jp && jp.envelope);
      assert.equal(jp.envelope.subject, '日本語');
    } finally {
      lock.release();
    }
  });
});

test('an IDLE-ing client gets an exists event after an LMTP delivery', async (t) => {
  const account = await dc().addUser();
  const client = imapClient(account);
  await client.connect();
  try {
    await client.mailboxOpen('INBOX');
    const exists = new Promise<ExistsEvent>((resolve) => client.once('exists', resolve));
    void client.idle().catch(() => undefined); // settles only when IDLE is broken (logout)
    await waitFor(() => client.idling, { timeoutMs: 5000, what: 'IDLE to start' });

    const deliveredAt = Date.now();
    await dc().deliver(account.email, buildMessage({ from: { address: 'a@example.test' }, to: account.email, subject: 'ping' }));
    const event = await withTimeout(exists, 10_000, "the 'exists' event");
    t.diagnostic(`exists event ${Date.now() - deliveredAt} ms after delivery`);
    assert.deepEqual(event, { path: 'INBOX', count: 1, prevCount: 0 });
  } finally {
    await client.logout().catch(() => client.close());
  }
});

test('setPassword makes the old password fail and the new one work', async () => {
  const account = await dc().addUser();
  await withImap(account, async () => undefined);

  await dc().setPassword(account.user, 'n3w-Secret');
  const stale = imapClient(account);
  try {
    await assert.rejects(stale.connect(), (err: ImapFlowError) => err.authenticationFailed === true);
  } finally {
    stale.close();
  }
  await withImap({ user: account.user, pass: 'n3w-Secret' }, async (client) => assert.ok(client.authenticated));

  // auth_verbose = yes: the failure is in the log, attributed to the user.
  await waitFor(async () => (await dc().readLog()).includes(`passwd-file(${account.user},127.0.0.1`), {
    timeoutMs: 5000,
    what: 'the failed login in dovecot.log',
  });
  assert.match(await dc().readLog(), new RegExp(`passwd-file\\(${account.user},127\\.0\\.0\\.1,[^)]*\\): Password mismatch`));
});

test('setUidValidity changes the UIDVALIDITY seen on SELECT', async () => {
  const account = await dc().addUser();
  const selectUidValidity = (): Promise<bigint> =>
    withImap(account, async (client) => (await client.mailboxOpen('INBOX')).uidValidity);

  const original = await selectUidValidity();
  const target = original === 424242n ? 424243 : 424242;
  await dc().setUidValidity(account.user, 'INBOX', target);
  assert.equal(await selectUidValidity(), BigInt(target));

  await assert.rejects(dc().setUidValidity(account.user, 'NoSuchMailbox', 7), /doesn't exist/);
});

test('stop() disconnects clients and closes the port; start() brings the same data back', async () => {
  const account = await dc().addUser();
  await dc().deliver(account.email, buildMessage({ from: { address: 'a@example.test' }, to: account.email, subject: 'kept' }));

  const connected = imapClient(account);
  await connected.connect();
  const closed = once(connected, 'close');
  await dc().stop();
  await withTimeout(closed, 5000, 'the client to be disconnected by stop()');
  assert.equal(await isPortOpen(dc().imapPort), false);
  assert.equal(await isPortOpen(dc().lmtpPort), false);

  await dc().start();
  await withImap(account, async (client) => {
    const inbox = await client.mailboxOpen('INBOX');
    assert.equal(inbox.exists, 1);
  });
});

test('redis survives restart() and kill() with the AOF enabled', async () => {
  assert.ok(redis, 'redis did not start');
  const server = redis;
  assert.notEqual(server.port, 6379);
  const client = new Redis(server.url, { retryStrategy: () => 50, maxRetriesPerRequest: 50 });
  client.on('error', () => undefined); // reconnect noise while the server is down
  try {
    await client.set('harness:graceful', 'v1');
    await server.restart();
    assert.equal(await client.get('harness:graceful'), 'v1'); // ioredis reconnects by itself

    await client.set('harness:crash', 'v2');
    await server.kill();
    assert.equal(await isPortOpen(server.port), false);
    await server.restart();
    assert.equal(await client.get('harness:crash'), 'v2');
  } finally {
    client.disconnect();
  }
});

/** Runs test/broken-fixtures/broken-fixture.ts in a child `node --test`; kills it after `boundMs`. */
async function runBrokenFixture(mode: 'start' | 'hang', boundMs: number) {
  const file = fileURLToPath(new URL('./broken-fixtures/broken-fixture.js', import.meta.url));
  const child = spawn(process.execPath, ['--test', file], {
    // Without NODE_TEST_CONTEXT (set for this file by the runner): the child is a runner of its own.
    env: { ...Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'NODE_TEST_CONTEXT')), BROKEN_FIXTURE: mode, MAILPUSH_TEST_FILE_TIMEOUT_MS: '5000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const startedAt = Date.now();
  const exit = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const [code] = await withTimeout(exit, boundMs, `the broken-fixture file (${mode}) to exit`).catch(async (error: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${error.message}; its output:\n${output}`);
  });
  const servers = [...output.matchAll(/FIXTURE (\w+) port=(\d+) dir=(\S+)/g)].map(([, what, port, dir]) => ({ what: what!, port: Number(port), dir: dir! }));
  return { code, output, seconds: (Date.now() - startedAt) / 1000, servers };
}

test('a file whose fixture fails to start exits non-zero with the log tail, and stops what did start', async (t) => {
  const run = await runBrokenFixture('start', 60_000);
  t.diagnostic(`exited with ${run.code} after ${run.seconds} s`);
  assert.notEqual(run.code, 0, run.output);
  assert.match(run.output, /redis-server exited during startup/, run.output);
  assert.match(run.output, /--- redis\.log ---[\s\S]*(Bad directive|no-such-directive)/, 'the log tail says why');
  const dovecotStarted = run.servers.find((s) => s.what === 'dovecot');
  assert.ok(dovecotStarted, `Dovecot started next to the failing Redis:\n${run.output}`);
  assert.equal(await isPortOpen(dovecotStarted.port), false, 'and was stopped');
  await assert.rejects(access(dovecotStarted.dir), 'its temp dir is gone');
});

test('a file that hangs is ended by the watchdog with the fixtures\' log tails', async (t) => {
  const run = await runBrokenFixture('hang', 60_000);
  t.diagnostic(`exited with ${run.code} after ${run.seconds} s`);
  assert.notEqual(run.code, 0, run.output);
  assert.match(run.output, /TEST FILE TIMED OUT after 5000 ms/, run.output);
  assert.match(run.output, /=== redis-server ===[\s\S]*--- redis\.log ---[\s\S]*Ready to accept connections/, 'with the log tail of the server it started');
  const redisStarted = run.servers.find((s) => s.what === 'redis');
  assert.ok(redisStarted, run.output);
  await waitFor(async () => !(await isPortOpen(redisStarted.port)), { timeoutMs: 10_000, what: 'the Redis of the ended file to be gone' });
});

test('a port taken between the probe and the bind is replaced: Dovecot, redis-server and mailpush start on another', async () => {
  // Someone holds the port the fixtures are handed first.
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  const taken = (squatter.address() as { port: number }).port;
  try {
    handOutNext(taken);
    const ownRedis = await startRedis();
    try {
      assert.notEqual(ownRedis.port, taken);
      assert.match(await ownRedis.logTail(), /Ready to accept connections/);

      handOutNext(taken);
      const web = await spawnMailpush('web', { REDIS_URL: ownRedis.url, MAILPUSH_SECRET: 'harness-secret-long-enough-for-32-characters', LOG_LEVEL: 'info' });
      try {
        assert.notEqual(new URL(web.url!).port, String(taken));
        assert.equal((await fetch(`${web.url!}/healthz`)).status, 200);
      } finally {
        await web.kill('SIGTERM');
      }
    } finally {
      await ownRedis.cleanup();
    }

    handOutNext(taken); // the IMAP port
    const ownDovecot = await startDovecot();
    try {
      assert.notEqual(ownDovecot.imapPort, taken);
      assert.match(await readGreeting(ownDovecot.imapPort), /^\* OK/);
    } finally {
      await ownDovecot.cleanup();
    }
  } finally {
    squatter.close();
  }
});
