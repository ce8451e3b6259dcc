// What an operator relies on: Prometheus metrics that move when mail, sockets and pushes move;
// probes that tell a worker with stale leases from a healthy one; and `mailpush check-imap`,
// which says whether push can work with a server and why not. Real processes, Redis, Dovecot.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Dovecot } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import { gatewayEnv } from '../helpers/gateway-env.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { buildMessage } from '../helpers/message.js';
import { freePort } from '../helpers/ports.js';
import type { PushService } from '../helpers/push-service.js';
import { api, openReadyStream, registerWatched } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';
import { spawnMailpush, type MailpushProcess } from '../helpers/processes.js';
import { findJemalloc, JEMALLOC_CONF } from '../../src/observability/malloc.js';

const ADMIN_TOKEN = 'operability-admin-token-0123456789';
let dovecot: Dovecot;
/** A Dovecot that does not announce IDLE, for check-imap to call out. */
let noIdle: Dovecot;
let redis: RedisServer;
let push: PushService;
let gateway: MailpushProcess;
let metricsPort: number;
let env: Record<string, string>;
const fixtures = useFixtures();

before(async () => {
  [dovecot, redis, push, noIdle] = await Promise.all([
    fixtures.dovecot({ tls: true }),
    fixtures.redis(),
    fixtures.pushService(),
    fixtures.dovecot({ capabilities: 'IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE' }),
  ]);
  // Preloaded with jemalloc, as the Docker image runs every process: the mail, push and probe
  // tests below then run on it.
  const jemalloc = findJemalloc();
  assert.ok(jemalloc, 'jemalloc is installed (Debian: libjemalloc2, which .ci/run installs)');
  env = gatewayEnv({ redisUrl: redis.url, imapPort: dovecot.imapPort, push, env: { ADMIN_TOKEN, LD_PRELOAD: jemalloc, MALLOC_CONF: JEMALLOC_CONF } });
  // The tests' mailboxes, one passwd-file write per Dovecot (a second each otherwise), while the gateway starts.
  [gateway] = await Promise.all([fixtures.mailpush('all', env, { metrics: true }), dovecot.reserveUsers(4), noIdle.reserveUsers(1)]);
  metricsPort = gateway.metricsPort!;
});

/** The samples of a Prometheus text exposition, keyed by name and labels as written. */
async function scrape(url: string, token?: string): Promise<Map<string, number>> {
  const response = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const samples = new Map<string, number>();
  for (const line of (await response.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

const metricsUrl = () => `http://127.0.0.1:${metricsPort}/metrics`;

describe('metrics', () => {
  test('a delivered mail moves the counters: events by type, pushes by outcome, sockets, accounts by state, EXISTS→fan-out and →push', async () => {
    const before = await scrape(metricsUrl());
    const { user, token, accountId } = await registerWatched(gateway.url!, dovecot);
    const subscribed = await api(gateway.url!, 'POST', '/v1/push/subscriptions', { token, body: { subscription: push.subscribe(`metrics-${accountId}`) } });
    assert.equal(subscribed.status, 201);
    const stream = await openReadyStream(gateway.url!, token);
    await dovecot.deliver(user.email, buildMessage({ from: { name: 'Ops', address: 'ops@example.test' }, to: user.email, subject: 'Counted' }));
    await stream.waitFor((m) => m.type === 'mail.new', 10_000, 'mail.new');
    await waitFor(() => push.received.some((r) => r.name === `metrics-${accountId}`), { timeoutMs: 10_000, what: 'the push' });

    const after = await waitFor(async () => {
      const samples = await scrape(metricsUrl());
      return (samples.get('mailpush_pushes_total{outcome="sent"}') ?? 0) >= 1 ? samples : undefined;
    }, { timeoutMs: 5000, what: 'the push to be counted' });
    const grew = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
    assert.equal(grew('mailpush_events_appended_total{type="mail.new"}'), 1);
    assert.ok(grew('mailpush_events_appended_total{type="account.state"}') >= 1, 'the account went connecting → idle');
    assert.equal(grew('mailpush_pushes_total{outcome="sent"}'), 1);
    assert.equal(after.get('mailpush_websocket_clients'), 1);
    assert.equal(after.get('mailpush_accounts{state="idle"}'), 1);
    assert.equal(after.get('mailpush_accounts{state="auth_failed"}'), 0);
    assert.equal(after.get('mailpush_imap_connections'), 1);
    assert.equal(grew('mailpush_imap_connects_total{result="ok"}'), 1);
    assert.equal(after.get('mailpush_push_queue_depth'), 0);
    // One live mail.new, timed from the worker seeing EXISTS to leaving for the socket.
    assert.equal(grew('mailpush_exists_to_fanout_seconds_count'), 1);
    const seconds = grew('mailpush_exists_to_fanout_seconds_sum');
    assert.ok(seconds >= 0 && seconds < 5, `fan-out took ${seconds} s`);
    // The same mail's push, timed from EXISTS to the push service accepting it.
    assert.equal(grew('mailpush_exists_to_push_seconds_count'), 1);
    const pushSeconds = grew('mailpush_exists_to_push_seconds_sum');
    assert.ok(pushSeconds > 0 && pushSeconds < 5, `push took ${pushSeconds} s`);
    // And its steps: the IMAP fetch, the unread count and the append, once each for this mail.
    for (const step of ['imap_fetch', 'imap_unseen', 'append']) {
      assert.equal(grew(`mailpush_new_mail_step_seconds_count{step="${step}"}`), 1, step);
      const stepSeconds = grew(`mailpush_new_mail_step_seconds_sum{step="${step}"}`);
      assert.ok(stepSeconds > 0 && stepSeconds < seconds + 1, `${step} took ${stepSeconds} s`);
    }
    assert.ok(after.has('mailpush_process_resident_memory_bytes'), 'process metrics are there too');

    stream.close();
    await waitFor(async () => (await scrape(metricsUrl())).get('mailpush_websocket_clients') === 0, { timeoutMs: 5000, what: 'the socket to be gone' });
  });

  test('a lost IMAP connection shows as a reconnect, and the account comes back idle', async () => {
    const before = await scrape(metricsUrl());
    await dovecot.stop();
    await waitFor(async () => (await scrape(metricsUrl())).get('mailpush_imap_connections') === 0, { timeoutMs: 10_000, what: 'the connection to drop' });
    await dovecot.start();
    const after = await waitFor(async () => {
      const samples = await scrape(metricsUrl());
      return samples.get('mailpush_accounts{state="idle"}') === 1 && samples.get('mailpush_imap_connections') === 1 ? samples : undefined;
    }, { timeoutMs: 15_000, what: 'the account to be idle again' });
    assert.ok((after.get('mailpush_imap_reconnects_total') ?? 0) > (before.get('mailpush_imap_reconnects_total') ?? 0));
  });

  test('/metrics on the public port needs the admin token', async () => {
    const anonymous = await api(gateway.url!, 'GET', '/metrics');
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body.error.code, 'unauthorized');
    const { token } = await registerWatched(gateway.url!, dovecot);
    assert.equal((await api(gateway.url!, 'GET', '/metrics', { token })).status, 401, 'a user token is not enough');
    const samples = await scrape(`${gateway.url!}/metrics`, ADMIN_TOKEN);
    assert.ok(samples.has('mailpush_websocket_clients'));
  });
});

test('a worker preloaded with jemalloc says so when it starts', () => {
  const line = gateway.logs.find((entry) => typeof entry.malloc === 'string');
  assert.equal(line?.malloc, 'jemalloc', gateway.logTail());
  assert.equal(line?.msg, 'memory allocator: jemalloc');
});

describe('probes', () => {
  test('a worker answers /healthz and /readyz on METRICS_PORT; /readyz turns 503 when Redis is gone and its leases go stale', async () => {
    const ownRedis = await startRedis();
    // A lease time of 1.5 s (renewed every 0.5 s) instead of the suite's 3 s: staleness shows sooner.
    const worker = await spawnMailpush('worker', { ...env, REDIS_URL: ownRedis.url, LEASE_TTL_MS: '1500' }, { metrics: true }).catch(async (error: Error) => {
      await ownRedis.cleanup();
      throw error;
    });
    const port = worker.metricsPort!;
    try {
      const probe = async (path: string) => {
        const response = await fetch(`http://127.0.0.1:${port}${path}`).catch((error: Error & { cause?: Error }) => {
          throw new Error(`GET ${path} failed: ${error.cause?.message ?? error.message}; worker exited: ${JSON.stringify(worker.logs.slice(-3))}`);
        });
        return { status: response.status, body: await response.json() as any };
      };
      assert.deepEqual(await probe('/healthz'), { status: 200, body: { status: 'ok' } });
      assert.deepEqual(await probe('/readyz'), { status: 200, body: { status: 'ready', checks: { storage: 'ok', worker: 'ok' } } });
      assert.equal((await probe('/nothing')).status, 404);
      await ownRedis.stop();
      const stale = await waitFor(async () => {
        const answer = await probe('/readyz');
        return answer.body.checks?.worker === 'leases_stale' ? answer : undefined;
      }, { timeoutMs: 10_000, what: 'the leases to go stale' });
      assert.equal(stale.status, 503);
      assert.deepEqual(stale.body, { status: 'not_ready', checks: { storage: 'unreachable', worker: 'leases_stale' } });
      assert.equal((await probe('/healthz')).status, 200, 'alive all the same: a restart would not help');
      await ownRedis.start();
      await waitFor(async () => (await probe('/readyz')).status === 200, { timeoutMs: 10_000, what: 'ready again' });
    } finally {
      await worker.kill('SIGTERM');
      await ownRedis.cleanup();
    }
  });

  test('the web role\'s /readyz reports storage', async () => {
    const ready = await api(gateway.url!, 'GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { status: 'ready', checks: { storage: 'ok', worker: 'ok' } });
  });
});

/** Runs `mailpush check-imap`, answering the password prompt from stdin. */
function checkImap(args: string[], password: string, onOutput?: (text: string) => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
  const child = spawn(process.execPath, [cli, 'check-imap', ...args], { env: { PATH: process.env.PATH ?? '' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    onOutput?.(stdout);
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(`${password}\n`);
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) => child.once('exit', (code) => {
    clearTimeout(timer);
    resolve({ code, stdout, stderr });
  }));
}

describe('mailpush check-imap', () => {
  test('reports TCP, login time, capabilities with IDLE, the mailbox, and with --watch the delay from delivery to EXISTS', async () => {
    const user = await dovecot.addUser();
    let delivered = false;
    const result = await checkImap(
      ['--host', '127.0.0.1', '--port', String(dovecot.imapPort), '--security', 'none', '--user', user.user, '--watch', '--watch-timeout', '20'],
      user.pass,
      (stdout) => {
        if (!delivered && /^watching /m.test(stdout)) {
          delivered = true;
          void dovecot.deliver(user.email, buildMessage({ from: { name: 'Check', address: 'check@example.test' }, to: user.email, subject: 'Watch me' }));
        }
      },
    );
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^tcp\s+connected in \d+ ms$/m);
    assert.match(result.stdout, /^tls\s+none: the password crossed the network in plaintext$/m);
    assert.match(result.stdout, new RegExp(`^login\\s+ok as ${user.user} in \\d+ ms`, 'm'));
    assert.match(result.stdout, /^capability\s+.*\bIDLE\b/m);
    assert.match(result.stdout, /^IDLE\s+yes: the server announces new mail the moment it arrives/m);
    assert.match(result.stdout, /^mailbox\s+INBOX: 0 messages, UIDVALIDITY \d+, UIDNEXT 1$/m);
    assert.match(result.stdout, /^new mail\s+UID 1 from check@example\.test: EXISTS came \d+ ms after the server stored it/m);
    assert.equal(result.stdout.includes(user.pass), false, 'the password is never printed');
  });

  test('a wrong password, a refused port and an untrusted certificate each fail with what to do', async () => {
    const user = await dovecot.addUser();
    const closed = await freePort();
    // Five independent runs of the CLI, at once: each is mostly Node starting up.
    const [wrong, refused, untrusted, accepted, starttls] = await Promise.all([
      checkImap(['--host', '127.0.0.1', '--port', String(dovecot.imapPort), '--security', 'none', '--user', user.user], 'not-the-password'),
      checkImap(['--host', '127.0.0.1', '--port', String(closed), '--user', user.user], user.pass),
      checkImap(['--host', '127.0.0.1', '--port', String(dovecot.imapsPort), '--user', user.user], user.pass),
      checkImap(['--host', '127.0.0.1', '--port', String(dovecot.imapsPort), '--user', user.user, '--insecure-tls'], user.pass),
      checkImap(['--host', '127.0.0.1', '--port', String(dovecot.imapPort), '--security', 'starttls', '--user', user.user, '--insecure-tls'], user.pass),
    ]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stdout, /^login\s+FAILED: .*; check the user name and password/m);

    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /^tcp\s+FAILED: connection refused; check the host, the port and any firewall$/m);

    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stdout, /^login\s+FAILED: TLS certificate not trusted .*--insecure-tls/m);

    assert.equal(accepted.code, 0, accepted.stdout);
    assert.match(accepted.stdout, /^tls\s+TLSv1\.[23] \S+, CN=localhost, certificate NOT verified/m);

    assert.equal(starttls.code, 0, starttls.stdout);
    assert.match(starttls.stdout, /^tls\s+TLSv1\.[23] /m, 'STARTTLS upgraded the connection');
  });

  test('a server without IDLE is called out: mailpush would poll', async () => {
    const user = await noIdle.addUser();
    const result = await checkImap(['--host', '127.0.0.1', '--port', String(noIdle.imapPort), '--security', 'none', '--user', user.user], user.pass);
    assert.equal(result.code, 0, result.stdout);
    assert.match(result.stdout, /^IDLE\s+no: mailpush has to poll every IMAP_POLL_INTERVAL_SECONDS/m);
  });

  test('usage errors name the missing option and exit 2', async () => {
    const result = await checkImap(['--host', '127.0.0.1'], 'x');
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--host and --user are required/);
    assert.match(result.stderr, /Usage: mailpush check-imap/);
  });
});
