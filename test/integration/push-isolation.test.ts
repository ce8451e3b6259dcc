// Slow or hostile push endpoints cannot hurt other users (issue 17). Real `mailpush` processes,
// real mail through Dovecot's LMTP, and push services on loopback: the decrypting double for the
// healthy user, and for the hostile ones an HTTPS origin of their own whose endpoints take the
// request and never answer ('hang'), or a TCP server that never even speaks TLS.

import assert from 'node:assert/strict';
import { readdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import webpush from 'web-push';
import { PushSender } from '../../src/push/sender.js';
import { VapidSigner } from '../../src/push/vapid.js';
import type { Dovecot } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import { api, registerWatched } from '../helpers/gateway.js';
import { gatewayEnv } from '../helpers/gateway-env.js';
import { buildMessage } from '../helpers/message.js';
import type { MailpushProcess } from '../helpers/processes.js';
import type { PushService, TestSubscription } from '../helpers/push-service.js';
import type { RedisServer } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

let dovecot: Dovecot;
let redis: RedisServer;
let push: PushService;
const vapid = webpush.generateVAPIDKeys();
const fixtures = useFixtures();

before(async () => {
  [dovecot, redis, push] = await Promise.all([fixtures.dovecot(), fixtures.redis(), fixtures.pushService()]);
  // The nine mailboxes the tests register, in one passwd-file write instead of a second each.
  await dovecot.reserveUsers(9);
});

async function embeddedDataDir(): Promise<string> {
  return fixtures.start('data dir', mkdtemp(path.join(tmpdir(), 'mailpush-isolation-')), (dir) => rm(dir, { recursive: true, force: true }));
}

async function gateway(mode: 'redis' | 'embedded', env: Record<string, string>, options: { metrics?: boolean } = {}): Promise<MailpushProcess> {
  const storage = mode === 'redis' ? { redisUrl: redis.url } : { dataDir: await embeddedDataDir() };
  return fixtures.mailpush('all', gatewayEnv({ ...storage, imapPort: dovecot.imapPort, push, vapid, env }), options);
}

async function subscribe(base: string, token: string, subscription: TestSubscription): Promise<string> {
  const response = await api(base, 'POST', '/v1/push/subscriptions', { token, body: { subscription, preview: 'full' } });
  assert.ok(response.status === 201 || response.status === 200, JSON.stringify(response.body));
  return response.body.id as string;
}

const mail = (to: string, subject: string) => dovecot.deliver(to, buildMessage({ from: { address: 'sender@example.test' }, to, subject }));
const pushesTo = (name: string) => push.received.filter((r) => r.name === name);

async function scrape(port: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

/** Open descriptors of a process. */
async function descriptors(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}

/**
 * Two hostile users (a sybil pair) on one origin whose endpoints never answer, each with six
 * subscriptions, a test push on each and a mail; then a healthy user's mail. Before this change
 * their 24 pushes filled all eight send slots for PUSH_TIMEOUT_SECONDS at a time, six attempts each.
 */
async function healthyPushDespiteHangingEndpoints(mode: 'redis' | 'embedded') {
  const gw = await gateway(mode, { PUSH_CONCURRENCY: '8', PUSH_CONCURRENCY_PER_USER: '2', PUSH_CONCURRENCY_PER_ORIGIN: '4', PUSH_TIMEOUT_SECONDS: '20' });
  const base = gw.url!;
  const hostileOrigin = await push.addOrigin();
  // Bob, the healthy user, is set up first, so the hostile pushes are all still hanging when his mail comes.
  const bob = await registerWatched(base, dovecot);
  const bobEndpoint = `bob-${mode}-${bob.accountId}`;
  await subscribe(base, bob.token, push.subscribe(bobEndpoint));
  const hostile = await Promise.all([registerWatched(base, dovecot), registerWatched(base, dovecot)]);
  const hostileEndpoints: string[][] = [];
  for (const [i, mallory] of hostile.entries()) {
    const names = Array.from({ length: 6 }, (_, n) => `hang-${mode}-${i}-${n}-${mallory.accountId}`);
    hostileEndpoints.push(names);
    for (const name of names) {
      const id = await subscribe(base, mallory.token, push.subscribe(name, ['hang'], { origin: hostileOrigin }));
      const tested = await api(base, 'POST', `/v1/push/subscriptions/${id}/test`, { token: mallory.token });
      assert.ok(tested.status === 202 || tested.status === 429, `test push: ${tested.status}`);
    }
    await mail(mallory.user.email, 'for the hanging endpoints');
  }
  const hanging = () => hostileEndpoints.flat().reduce((sum, name) => sum + push.requests(name), 0);
  await waitFor(() => hanging() >= 4, { timeoutMs: 10_000, what: 'the hostile origin to hold four requests' });

  const deliveredAt = performance.now();
  await mail(bob.user.email, 'for the healthy endpoint');
  await waitFor(() => pushesTo(bobEndpoint).length === 1, { timeoutMs: 10_000, what: 'bob\'s push' });
  const latencyMs = pushesTo(bobEndpoint)[0]!.arrivedAt - deliveredAt;
  assert.ok(latencyMs < 2000, `bob's push took ${Math.round(latencyMs)} ms from LMTP delivery to the push service`);
  assert.equal(pushesTo(bobEndpoint)[0]!.payload.body.split('\n')[0], 'for the healthy endpoint');
  // Nothing to the hostile origin has returned yet (its first deadline is 20 s away), so what
  // reached it is what it holds: at most the per-origin cap, at most two per user.
  assert.ok(hanging() <= 4, `the hostile origin holds ${hanging()} requests, the cap is 4`);
  for (const names of hostileEndpoints) {
    const held = names.reduce((sum, name) => sum + push.requests(name), 0);
    assert.ok(held <= 2, `one hostile user holds ${held} requests, the cap is 2`);
  }
  // So that the gateway stops at once instead of waiting out the hanging sends' deadlines.
  for (const name of hostileEndpoints.flat()) push.setBehaviour(name, [{ status: 201 }]);
  push.releaseHanging();
  return { latencyMs };
}

describe('slow or hostile push endpoints', () => {
  test('Redis mode: a healthy user\'s push arrives within 2 s of the mail while other users\' endpoints hang', async () => {
    const { latencyMs } = await healthyPushDespiteHangingEndpoints('redis');
    console.log(`redis: mail to push ${Math.round(latencyMs)} ms`);
  });

  test('embedded mode: a healthy user\'s push arrives within 2 s of the mail while other users\' endpoints hang', async () => {
    const { latencyMs } = await healthyPushDespiteHangingEndpoints('embedded');
    console.log(`embedded: mail to push ${Math.round(latencyMs)} ms`);
  });

  test('embedded queue bound: reached, the greediest user\'s pushes dropped and counted, others still sent, then released', async () => {
    const limit = 4;
    const gw = await gateway('embedded', {
      PUSH_QUEUE_LIMIT: String(limit), PUSH_CONCURRENCY_PER_USER: '1', PUSH_TIMEOUT_SECONDS: '3', PUSH_MAX_ATTEMPTS: '1',
    }, { metrics: true });
    const base = gw.url!;
    const metrics = () => scrape(gw.metricsPort!);
    const hostileOrigin = await push.addOrigin();
    const bob = await registerWatched(base, dovecot);
    const bobEndpoint = `bound-bob-${bob.accountId}`;
    await subscribe(base, bob.token, push.subscribe(bobEndpoint));
    const mallory = await registerWatched(base, dovecot);
    const names = [0, 1, 2].map((n) => `bound-hang-${n}-${mallory.accountId}`);
    for (const name of names) await subscribe(base, mallory.token, push.subscribe(name, ['hang'], { origin: hostileOrigin }));

    // Four mails, three pushes each, one send at a time for her: the queue fills and drops.
    for (let i = 0; i < 4; i++) await mail(mallory.user.email, `flood ${i}`);
    const dropped = await waitFor(async () => (await metrics()).get('mailpush_push_dropped_total{reason="queue_full"}'), { timeoutMs: 10_000, what: 'a drop' });
    assert.ok(dropped! >= 1);
    assert.ok((await metrics()).get('mailpush_push_queue_depth')! <= limit, 'never more than the bound waiting');

    // Bob's mail still gets through on time: the full queue drops mallory's oldest, not his.
    const deliveredAt = performance.now();
    await mail(bob.user.email, 'bob while the queue is full');
    await waitFor(() => pushesTo(bobEndpoint).length === 1, { timeoutMs: 10_000, what: 'bob\'s push' });
    const latencyMs = pushesTo(bobEndpoint)[0]!.arrivedAt - deliveredAt;
    assert.ok(latencyMs < 2000, `bob's push took ${Math.round(latencyMs)} ms`);

    // Released: her endpoints answer again; what is left drains (a hanging attempt gives up at
    // its 3 s deadline), and her next mail reaches all three.
    for (const name of names) push.setBehaviour(name, [{ status: 201 }]);
    await waitFor(async () => (await metrics()).get('mailpush_push_queue_depth') === 0, { timeoutMs: 30_000, what: 'the queue to drain' });
    const failed = (await metrics()).get('mailpush_pushes_total{outcome="failed"}') ?? 0;
    assert.ok(failed >= 1, 'a hanging attempt ended at its deadline and was counted as failed');
    await mail(mallory.user.email, 'after the flood');
    await waitFor(() => names.every((name) => pushesTo(name).some((r) => r.payload.body.startsWith('after the flood'))), { timeoutMs: 10_000, what: 'her pushes after the flood' });
    const total = (await metrics()).get('mailpush_push_dropped_total{reason="queue_full"}')!;
    console.log(`queue bound ${limit}: ${total} dropped, bob's push ${Math.round(latencyMs)} ms`);
  });

  test('keep-alive agents: fresh origins do not pile up descriptors beyond the cap, and idle ones are closed', async () => {
    const cap = 4;
    const gw = await gateway('embedded', { PUSH_MAX_ORIGINS: String(cap), PUSH_ORIGIN_IDLE_SECONDS: '2', PUSH_MAX_SUBSCRIPTIONS: '30' }, { metrics: true });
    const base = gw.url!;
    const metrics = () => scrape(gw.metricsPort!);
    const origins = await Promise.all(Array.from({ length: 16 }, () => push.addOrigin()));
    const carol = await registerWatched(base, dovecot);
    // Warm up (the first push loads what every push needs), then wait until its agent is closed.
    const warm = `agents-warm-${carol.accountId}`;
    const warmId = await subscribe(base, carol.token, push.subscribe(warm));
    await mail(carol.user.email, 'warm up');
    await waitFor(() => pushesTo(warm).length === 1, { timeoutMs: 10_000, what: 'the warm-up push' });
    await api(base, 'DELETE', `/v1/push/subscriptions/${warmId}`, { token: carol.token });
    await waitFor(async () => (await metrics()).get('mailpush_push_origin_agents') === 0, { timeoutMs: 10_000, what: 'the warm-up agent to be closed' });
    const baseline = await descriptors(gw.pid);

    const names = origins.map((origin, i) => {
      const name = `agents-${i}-${carol.accountId}`;
      return { name, subscription: push.subscribe(name, [{ status: 201 }], { origin }) };
    });
    for (const { subscription } of names) await subscribe(base, carol.token, subscription);
    await mail(carol.user.email, 'to sixteen push services');
    await waitFor(() => names.every(({ name }) => pushesTo(name).length === 1), { timeoutMs: 20_000, what: 'sixteen pushes' });
    const afterBurst = await descriptors(gw.pid);
    const agents = (await metrics()).get('mailpush_push_origin_agents')!;
    assert.ok(agents <= cap, `${agents} agents kept, the cap is ${cap}`);
    // The push services keep idle connections open: only the gateway closes them. One socket per
    // kept origin, plus a little slack for whatever else the process opened meanwhile.
    assert.ok(afterBurst <= baseline + cap + 3, `descriptors: ${baseline} before, ${afterBurst} after pushes to 16 origins (cap ${cap})`);
    await waitFor(async () => (await push.openConnections(origins)) <= cap, { timeoutMs: 2000, what: `at most ${cap} connections left open to the push services` });

    // Idle: every agent is closed, and with it its connections.
    await waitFor(async () => (await metrics()).get('mailpush_push_origin_agents') === 0, { timeoutMs: 15_000, what: 'idle agents to be closed' });
    await waitFor(async () => (await push.openConnections(origins)) === 0, { timeoutMs: 5000, what: 'the connections to be closed' });
    const afterIdle = await descriptors(gw.pid);
    assert.ok(afterIdle <= baseline + 3, `descriptors: ${baseline} before, ${afterIdle} once idle`);
    console.log(`descriptors: ${baseline} baseline, ${afterBurst} after 16 origins, ${afterIdle} once idle`);
  });

  test('one deadline per attempt covers connect and TLS: a server that accepts and never speaks costs timeoutMs, no more', async () => {
    const silent = await push.addSilentOrigin();
    const sender = new PushSender({ vapid: new VapidSigner({ ...vapid, subject: 'mailto:ops@example.test' }), ttlSeconds: 60, timeoutMs: 500, allowPrivateEndpoints: true });
    const { keys } = push.subscribe('silent');
    const now = new Date().toISOString();
    const started = performance.now();
    await assert.rejects(
      sender.send({ id: 'sub_silent', userId: 'usr_silent', endpoint: `${silent}/push/silent`, keys, expirationTime: null, accounts: [], preview: 'full', createdAt: now, updatedAt: now }, { payload: { v: 1, type: 'test', tag: 't', title: 't', body: 'b', time: now }, urgency: 'normal' }),
      (error: NodeJS.ErrnoException) => error.code === 'ETIMEDOUT',
    );
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 450 && elapsed < 2500, `gave up after ${Math.round(elapsed)} ms`);
    assert.equal(sender.originAgents, 1);
    sender.close();
  });
});
