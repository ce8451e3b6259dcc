// Greedy clients: every per-address, per-user and per-mailbox limit of the web role is reached,
// answered with its error (JSON with a stable code, Retry-After where it applies) and released,
// against a real Redis and Dovecot. Client addresses come from X-Forwarded-For, which the gateway
// trusts from loopback (TRUST_PROXY), as it would behind a TLS proxy.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import WebSocket from 'ws';
import type { Dovecot } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import type { PushService } from '../helpers/push-service.js';
import type { RedisServer } from '../helpers/redis.js';
import { StreamRecorder, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';
import { hashToken, newToken } from '../../src/core/tokens.js';
import webpush from 'web-push';

let dovecot: Dovecot;
let redis: RedisServer;
let push: PushService;
let gateway: TestGateway;

const LIMITS = {
  WS_MAX_PER_USER: '3',
  WS_MAX_UNAUTHENTICATED_PER_ADDRESS: '2',
  ACCOUNT_UPDATE_RATE_LIMIT_PER_MINUTE: '3',
  PUSH_TEST_RATE_LIMIT_PER_MINUTE: '3',
  MAILBOX_LOGIN_LIMIT: '3',
  MAILBOX_LOGIN_WINDOW_SECONDS: '3',
};

const fixtures = useFixtures();

// A full collection before each heap reading, without starting node with --expose-gc.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

before(async () => {
  [dovecot, redis, push] = await Promise.all([fixtures.dovecot(), fixtures.redis(), fixtures.pushService()]);
  const vapid = webpush.generateVAPIDKeys();
  gateway = await fixtures.gateway({
    role: 'web',
    redisUrl: redis.url,
    imapPort: dovecot.imapPort,
    env: {
      ...LIMITS,
      TRUST_PROXY: '127.0.0.1',
      VAPID_PUBLIC_KEY: vapid.publicKey,
      VAPID_PRIVATE_KEY: vapid.privateKey,
      VAPID_SUBJECT: 'mailto:ops@example.test',
      PUSH_ALLOW_PRIVATE_ENDPOINTS: 'true',
      PUSH_MAX_ATTEMPTS: '1',
    },
  });
  // The three mailboxes of the tests, in one passwd-file write instead of a second's wait each.
  await dovecot.reserveUsers(3);
});

interface Answer {
  status: number;
  retryAfter: number | undefined;
  body: any;
}

/** A request from client address `from` (X-Forwarded-For through the trusted loopback proxy). */
async function call(from: string, method: string, path: string, options: { token?: string; body?: unknown } = {}): Promise<Answer> {
  const headers: Record<string, string> = { 'x-forwarded-for': from };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${gateway.url}${path}`, { method, headers, ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}) });
  const text = await response.text();
  const retryAfter = response.headers.get('retry-after');
  return { status: response.status, retryAfter: retryAfter === null ? undefined : Number(retryAfter), body: text ? JSON.parse(text) : undefined };
}

function assertRateLimited(answer: Answer, what: string): void {
  assert.equal(answer.status, 429, `${what}: ${JSON.stringify(answer.body)}`);
  assert.equal(answer.body.error.code, 'rate_limited', what);
  assert.equal(typeof answer.body.error.message, 'string');
  assert.ok(answer.retryAfter !== undefined && answer.retryAfter >= 1, `${what}: Retry-After is given`);
}

async function newUser(): Promise<string> {
  const token = newToken();
  await gateway.adapters.users.create(hashToken(token));
  return token;
}

function streamFrom(from: string, token?: string): StreamRecorder {
  const url = `${gateway.url!.replace(/^http/, 'ws')}/v1/stream`;
  return new StreamRecorder(new WebSocket(url, { headers: { 'x-forwarded-for': from, ...(token ? { authorization: `Bearer ${token}` } : {}) } }));
}

/** An upgrade the gateway answers over HTTP instead of switching protocols. */
function refusedUpgrade(from: string): Promise<Answer> {
  const socket = new WebSocket(`${gateway.url!.replace(/^http/, 'ws')}/v1/stream`, { headers: { 'x-forwarded-for': from } });
  return new Promise((resolve, reject) => {
    socket.on('open', () => {
      socket.terminate();
      reject(new Error('the upgrade was accepted'));
    });
    socket.on('error', () => undefined);
    socket.on('unexpected-response', (_request, response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => {
        const retryAfter = response.headers['retry-after'];
        resolve({ status: response.statusCode ?? 0, retryAfter: retryAfter === undefined ? undefined : Number(retryAfter), body: JSON.parse(text) });
      });
    });
  });
}

describe('WebSockets', () => {
  test('a user with WS_MAX_PER_USER streams open gets 4429 for one more; the open ones keep working; closing one frees its place', async () => {
    const token = await newUser();
    const open = [1, 2, 3].map((n) => streamFrom(`198.51.100.${n}`, token));
    await Promise.all(open.map((s) => s.waitFor((m) => m.type === 'ready', 5000, 'ready')));
    const extra = streamFrom('198.51.100.9', token);
    const closed = await extra.waitForClose(5000);
    assert.equal(closed.code, 4429);
    assert.match(closed.reason, /3 streams open/);
    assert.deepEqual(extra.messages, [], 'the refused stream got nothing');
    // The refusal did not disturb the others: each still answers.
    for (const stream of open) {
      stream.socket.send('{"type":"ping"}');
      await stream.waitFor((m) => m.type === 'pong', 5000, 'pong');
      assert.equal(stream.closeCode, undefined);
    }
    open[0]!.close();
    await open[0]!.waitForClose(5000);
    const again = await waitFor(async () => {
      const stream = streamFrom('198.51.100.9', token);
      try {
        await stream.waitFor((m) => m.type === 'ready', 5000, 'ready');
        return stream;
      } catch {
        return undefined; // refused while the server had not yet seen the close; try again
      }
    }, { timeoutMs: 10_000, intervalMs: 100, what: 'a stream in the freed place' });
    for (const stream of [again, ...open.slice(1)]) stream.close();
  });

  test('an address with WS_MAX_UNAUTHENTICATED_PER_ADDRESS sockets still authenticating gets 429 for one more; authenticating or closing frees a place', async () => {
    const token = await newUser();
    const waiting = [streamFrom('203.0.113.7'), streamFrom('203.0.113.7')];
    await Promise.all(waiting.map((s) => new Promise<void>((resolve) => s.socket.once('open', () => resolve()))));
    const refused = await refusedUpgrade('203.0.113.7');
    assertRateLimited(refused, 'a third unauthenticated socket');
    // The next address is not affected (an IPv4 address is counted alone).
    const neighbour = streamFrom('203.0.113.8');
    await new Promise<void>((resolve) => neighbour.socket.once('open', () => resolve()));
    neighbour.close();

    // Authenticating frees the place...
    waiting[0]!.socket.send(JSON.stringify({ type: 'auth', token }));
    await waiting[0]!.waitFor((m) => m.type === 'ready', 5000, 'ready');
    const third = streamFrom('203.0.113.7');
    await new Promise<void>((resolve) => third.socket.once('open', () => resolve()));
    assertRateLimited(await refusedUpgrade('203.0.113.7'), 'full again');
    // ...and so does closing.
    third.socket.terminate();
    const fourth = await waitFor(async () => {
      const stream = streamFrom('203.0.113.7');
      const opened = await new Promise<boolean>((resolve) => {
        stream.socket.once('open', () => resolve(true));
        stream.socket.once('unexpected-response', () => resolve(false));
      });
      return opened ? stream : undefined;
    }, { timeoutMs: 10_000, intervalMs: 100, what: 'the closed socket\'s place' });
    for (const stream of [fourth, ...waiting]) stream.socket.terminate();
  });
});

/** A registration request for `mailbox` with `pass`, from `from`. */
const register = (from: string, mailbox: { user: string }, pass: string, token?: string) =>
  call(from, 'POST', '/v1/accounts', { ...(token ? { token } : {}), body: { imap: { user: mailbox.user, pass } } });

describe('login checks per mailbox', () => {
  test('failed logins from different addresses share one budget; the right password works again after the window', async () => {
    const mailbox = await dovecot.addUser();
    // Three guesses, from two addresses and at once: each is a real login, each fails.
    const guesses = await Promise.all(['192.0.2.1', '192.0.2.2', '192.0.2.1'].map((from, n) => register(from, mailbox, `wrong-${n}`)));
    assert.deepEqual(guesses.map((g) => g.body.error?.code), ['imap_auth_failed', 'imap_auth_failed', 'imap_auth_failed']);
    // A fourth address gets nothing more: the budget is the mailbox's, not the address's.
    const fourth = await register('192.0.2.3', mailbox, 'wrong-3');
    assertRateLimited(fourth, 'a fourth guess');
    assert.match(fourth.body.error.message, /this mailbox/);
    // Within the window even the right password is refused before any login (nothing is created).
    assertRateLimited(await register('192.0.2.4', mailbox, mailbox.pass), 'the right password within the window');

    const created = await waitFor(async () => {
      const answer = await register('192.0.2.4', mailbox, mailbox.pass);
      if (answer.status === 429) return undefined;
      return answer;
    }, { timeoutMs: 10_000, intervalMs: 250, what: 'the window to pass' });
    assert.equal(created.status, 201, JSON.stringify(created.body));

    // PATCH with a new password is a login check too, on the same budget (1 used by the registration).
    const { token } = created.body;
    const id = created.body.account.id as string;
    const patches = [];
    for (const [n, from] of ['192.0.2.5', '192.0.2.6'].entries()) patches.push(await call(from, 'PATCH', `/v1/accounts/${id}`, { token, body: { imap: { pass: `wrong-${n}` } } }));
    assert.deepEqual(patches.map((p) => p.body.error?.code), ['imap_auth_failed', 'imap_auth_failed']);
    const blocked = await call('192.0.2.7', 'PATCH', `/v1/accounts/${id}`, { token, body: { imap: { pass: mailbox.pass } } });
    assertRateLimited(blocked, 'a PATCH over the mailbox budget');
    // The refused PATCH changed nothing.
    const account = await call('192.0.2.7', 'GET', `/v1/accounts/${id}`, { token });
    assert.equal(account.body.account.updatedAt, created.body.account.updatedAt);
  });

  test('the user name in another case, or another port of the host, shares the budget', async () => {
    const mailbox = await dovecot.addUser();
    const spellings = [mailbox.user, mailbox.user.toUpperCase(), mailbox.user[0]!.toUpperCase() + mailbox.user.slice(1)];
    const answers = [];
    for (const [n, user] of spellings.entries()) answers.push(await register(`192.0.2.${20 + n}`, { user }, 'wrong'));
    assert.deepEqual(answers.map((a) => a.status), [422, 422, 422]);
    assertRateLimited(await call('192.0.2.30', 'POST', '/v1/accounts', { body: { imap: { host: '127.0.0.1', port: 143, security: 'none', user: mailbox.user, pass: 'wrong' } } }), 'port 143 of the same host');
  });
});

/** Requests that used up a per-address limit, checked again at the end of the file. */
const spent: Array<() => Promise<Answer>> = [];

describe('rate limits per client address', () => {
  test('PATCH /v1/accounts/:id: ACCOUNT_UPDATE_RATE_LIMIT_PER_MINUTE per address, then 429 with Retry-After; another address goes on', async () => {
    const mailbox = await dovecot.addUser();
    const created = await register('192.0.2.40', mailbox, mailbox.pass);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const { token } = created.body;
    const patch = (from: string) => call(from, 'PATCH', `/v1/accounts/${created.body.account.id}`, { token, body: { mailboxes: ['INBOX'] } });
    for (let n = 0; n < 3; n++) assert.equal((await patch('192.0.2.41')).status, 200);
    assertRateLimited(await patch('192.0.2.41'), 'a fourth PATCH');
    assert.equal((await patch('192.0.2.42')).status, 200, 'another address is not limited');
    spent.push(() => patch('192.0.2.41'));
  });

  test('POST /v1/push/subscriptions/:id/test: PUSH_TEST_RATE_LIMIT_PER_MINUTE per address', async () => {
    const token = await newUser();
    const subscribed = await call('192.0.2.50', 'POST', '/v1/push/subscriptions', { token, body: { subscription: push.subscribe('client-limits') } });
    assert.equal(subscribed.status, 201, JSON.stringify(subscribed.body));
    const sendTest = (from: string) => call(from, 'POST', `/v1/push/subscriptions/${subscribed.body.id}/test`, { token });
    for (let n = 0; n < 3; n++) assert.equal((await sendTest('192.0.2.51')).status, 202);
    assertRateLimited(await sendTest('192.0.2.51'), 'a fourth test push');
    assert.equal((await sendTest('192.0.2.52')).status, 202);
    spent.push(() => sendTest('192.0.2.51'));
  });

  test('IPv6 clients are counted per /64, IPv4-mapped IPv6 as its IPv4 address', async () => {
    // Unauthenticated test pushes (401) count like any other request.
    const sendTest = (from: string) => call(from, 'POST', '/v1/push/subscriptions/sub_none/test');
    for (const from of ['2001:db8:1:1::1', '2001:db8:1:1::2', '2001:db8:1:1:ffff::3']) assert.equal((await sendTest(from)).status, 401);
    assertRateLimited(await sendTest('2001:db8:1:1:abcd::99'), 'a fourth address in the same /64');
    assert.equal((await sendTest('2001:db8:1:2::1')).status, 401, 'the next /64 has its own budget');
    for (let n = 0; n < 3; n++) assert.equal((await sendTest('::ffff:198.51.100.77')).status, 401);
    assertRateLimited(await sendTest('198.51.100.77'), 'the IPv4 address of an IPv4-mapped one');
    spent.push(() => sendTest('2001:db8:1:1::1'));
  });

});

describe('sockets that close while their stream is being set up', () => {
  /** The test process's own descriptors, timers and heap after a full GC: the gateway runs in it. */
  function footprint() {
    collectGarbage();
    return {
      heapBytes: process.memoryUsage().heapUsed,
      descriptors: readdirSync('/proc/self/fd').length,
      timers: process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length,
    };
  }

  /** Upgrades with a valid token over raw TCP, then resets the connection at a random point of the stream's setup. */
  function connectAndReset(port: number, token: string): Promise<void> {
    return new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1');
      const resetAfterUpgrade = Math.random() < 0.9; // most after the 101, some while the upgrade is in flight
      const delayTicks = Math.floor(Math.random() * 6);
      const reset = () => {
        let ticks = delayTicks;
        const step = () => (ticks-- > 0 ? setImmediate(step) : socket.resetAndDestroy());
        step();
      };
      socket.once('connect', () => {
        socket.write(`GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
          + `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${token}\r\n\r\n`);
        if (!resetAfterUpgrade) reset();
      });
      socket.once('data', () => resetAfterUpgrade && reset());
      socket.on('error', () => undefined);
      socket.once('close', () => resolve());
    });
  }

  test('2,000 connect-and-resets leave streams, Redis subscriptions, timers, descriptors and heap where they were', async () => {
    const web = await fixtures.gateway({ role: 'web', redisUrl: redis.url, imapPort: dovecot.imapPort, env: { LOG_LEVEL: 'warn' } });
    const port = Number(new URL(web.url!).port);
    const token = newToken();
    const userId = await web.adapters.users.create(hashToken(token));
    const channel = web.adapters.keys!.liveChannel(userId);
    const streams = async () => (await web.metrics.registry.getSingleMetric('mailpush_websocket_clients')!.get()).values[0]?.value ?? 0;
    const subscribers = async () => Number(((await web.adapters.redis!.pubsub('NUMSUB', channel)) as [string, number])[1]);
    const held = async () => ({ streams: await streams(), subscribers: await subscribers(), sockets: web.app!.websocketServer.clients.size });
    const settled = async () => {
      const gone = await waitFor(async () => Object.values(await held()).every((n) => n === 0), { timeoutMs: 15_000, intervalMs: 100 }).catch(() => false);
      assert.ok(gone, `every stream is gone after its socket closed; still held: ${JSON.stringify(await held())}`);
    };

    const run = async (cycles: number) => {
      let next = 0;
      // Four at a time, like a few reconnecting clients.
      await Promise.all([0, 1, 2, 3].map(async () => {
        while (next++ < cycles) await connectAndReset(port, token);
      }));
    };
    await run(200); // warm-up: JIT, pools and caches reach their size
    await settled();
    const before = footprint();
    const started = performance.now();
    await run(2000);
    const seconds = (performance.now() - started) / 1000;
    await settled();
    const afterwards = footprint();
    const growth = afterwards.heapBytes - before.heapBytes;
    assert.deepEqual(web.logs.filter((line) => /"level":50/.test(line)), [], 'no request failed');
    console.log(`2,000 connect-and-resets in ${seconds.toFixed(1)} s: heap ${(growth / 1024).toFixed(0)} KiB, descriptors ${before.descriptors} → ${afterwards.descriptors}, timers ${before.timers} → ${afterwards.timers}`);
    // A leaked stream holds its socket, client and closures (several KiB): 2,000 of them would be
    // well over this bound, which leaves room for V8's own noise.
    assert.ok(growth < 6 * 1024 * 1024, `heap grew by ${growth} bytes`);
    assert.ok(afterwards.descriptors <= before.descriptors + 2, `descriptors ${before.descriptors} → ${afterwards.descriptors}`);
    assert.ok(afterwards.timers <= before.timers + 2, `timers ${before.timers} → ${afterwards.timers}`);

    // The address still has all its places for sockets that authenticate (WS_MAX_UNAUTHENTICATED_PER_ADDRESS, 10)...
    const waiting = Array.from({ length: 10 }, () => StreamRecorder.open(web.url!));
    await Promise.all(waiting.map((s) => new Promise<void>((resolve, reject) => {
      s.socket.once('open', () => resolve());
      s.socket.once('unexpected-response', (_request, response) => reject(new Error(`upgrade refused with ${response.statusCode}: a place was never given back`)));
    })));
    // ...and the user its places for streams: a real client gets its stream.
    waiting[0]!.socket.send(JSON.stringify({ type: 'auth', token }));
    await waiting[0]!.waitFor((m) => m.type === 'ready', 5000, 'ready');
    await waitFor(async () => (await subscribers()) === 1, { what: 'one subscription for the new stream' });
    waiting.forEach((s) => s.socket.terminate());
  });
});

// Waiting out a one-minute window would cost the suite a minute: instead, the limits are checked to
// be still in force and their counters to expire (in Redis, where every web process shares them)
// within the window. The mailbox login budget above is waited out for real (a 3 s window).
describe('per-address limits after their window', () => {
  test('each limit still holds, says when it ends, and its counter expires within its window', async () => {
    assert.equal(spent.length, 3);
    for (const request of spent) {
      const answer = await request();
      assertRateLimited(answer, 'still within the window');
      assert.ok(answer.retryAfter! >= 1 && answer.retryAfter! <= 60, `Retry-After ${answer.retryAfter}`);
    }
    const redisClient = gateway.adapters.redis!;
    const counters = (await redisClient.keys('*')).filter((key) => key.includes(':ratelimit:'));
    assert.ok(counters.length >= 3, `rate-limit counters in Redis: ${counters.join(', ')}`);
    for (const key of counters) {
      const ttl = await redisClient.pttl(key);
      assert.ok(ttl > 0 && ttl <= 60_000, `${key} expires within its window (PTTL ${ttl} ms)`);
    }
  });
});
