// What deliverPush makes of a push service's answer: sent, gone (and the subscription removed),
// retry later (with Retry-After), resend smaller, dropped, or given up. The subscriptions live in
// the embedded (SQLite) store; the sender's HTTP side is tested against a real push service in
// test/integration/push.test.ts, so here it only answers with the status it is given.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import type { Adapters } from '../../src/adapters/adapters.js';
import { createEmbeddedAdapters } from '../../src/adapters/embedded.js';
import type { PushSubscriptionRecord } from '../../src/core/ports.js';
import { newId } from '../../src/core/tokens.js';
import type { MailEvent } from '../../src/core/types.js';
import { deliverPush, retryDelay, RetryLater, type PushJob, type PushOutcome } from '../../src/push/delivery.js';
import type { PushMessage } from '../../src/push/payload.js';
import { PushSender, type SendResult } from '../../src/push/sender.js';
import { generateVapidKeys, VapidSigner } from '../../src/push/vapid.js';

const vapid = new VapidSigner({ ...generateVapidKeys(), subject: 'mailto:a@example.test' });
const senderOptions = { vapid, ttlSeconds: 60, timeoutMs: 1000, allowPrivateEndpoints: false };

/** Answers each send with the next scripted status (or throws the scripted network error). */
class AnsweringSender extends PushSender {
  readonly messages: PushMessage[] = [];
  constructor(private readonly answers: Array<SendResult | Error>) {
    super(senderOptions);
  }

  override async send(_subscription: PushSubscriptionRecord, message: PushMessage): Promise<SendResult> {
    this.messages.push(message);
    const answer = this.answers.shift();
    if (!answer) throw new Error('no answer scripted');
    if (answer instanceof Error) throw answer;
    return answer;
  }
}

let dir: string;
let adapters: Adapters;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mailpush-delivery-'));
  adapters = createEmbeddedAdapters({ dataDir: dir, events: { batchSize: 25, retentionCount: 100, retentionMs: 86400_000 } });
});
after(async () => {
  await adapters.close();
  await rm(dir, { recursive: true, force: true });
});

const mail: MailEvent = {
  id: '1700000000000-0', type: 'mail.new', accountId: 'acc_d', mailbox: 'INBOX', time: new Date().toISOString(),
  data: { uid: 1, uidValidity: '1', messageId: null, from: { name: 'Ann', address: 'ann@example.test' }, subject: 'Hello', date: null, snippet: null, unseen: 1, catchUp: false },
} as MailEvent;

async function subscription(endpoint = `https://push.example.test/${newId('ep')}`): Promise<PushSubscriptionRecord> {
  const now = new Date().toISOString();
  const record: PushSubscriptionRecord = {
    id: newId('sub'), userId: 'usr_d', endpoint, keys: { p256dh: 'p', auth: 'a' }, expirationTime: null, accounts: [], preview: 'full', createdAt: now, updatedAt: now,
  };
  const stored = await adapters.pushSubscriptions.upsert(record, 100);
  assert.notEqual(stored, 'limit');
  return record;
}

async function deliver(answers: Array<SendResult | Error>, record?: PushSubscriptionRecord, sender?: PushSender) {
  const sub = record ?? (await subscription());
  const outcomes: PushOutcome[] = [];
  const scripted = new AnsweringSender(answers);
  const job: PushJob = { userId: sub.userId, subscriptionId: sub.id, subscription: sub, event: mail };
  const deps = { sender: sender ?? scripted, subscriptions: adapters.pushSubscriptions, log: pino({ level: 'silent' }), onOutcome: (o: PushOutcome) => outcomes.push(o) };
  const result = await deliverPush(job, deps, 1).then(() => undefined, (error: Error) => error);
  return { result, outcomes, sent: scripted.messages, sub, stillThere: !!(await adapters.pushSubscriptions.get(sub.userId, sub.id)) };
}

test('2xx is sent', async () => {
  for (const status of [200, 201, 202]) {
    const { result, outcomes, stillThere } = await deliver([{ status }]);
    assert.equal(result, undefined);
    assert.deepEqual(outcomes, ['sent'], String(status));
    assert.ok(stillThere);
  }
});

test('404 and 410 mean gone: the subscription is removed', async () => {
  for (const status of [404, 410]) {
    const { result, outcomes, stillThere } = await deliver([{ status }]);
    assert.equal(result, undefined);
    assert.deepEqual(outcomes, ['gone'], String(status));
    assert.equal(stillThere, false);
  }
});

test('429 is retried after Retry-After (capped at an hour); 5xx and network errors with backoff', async () => {
  const limited = await deliver([{ status: 429, retryAfterMs: 2000 }]);
  assert.ok(limited.result instanceof RetryLater);
  assert.equal(limited.result.delayMs, 2000);
  assert.equal(retryDelay(1, limited.result), 2000);
  assert.equal(retryDelay(1, new RetryLater('x', 86400_000)), 3600_000);
  assert.deepEqual(limited.outcomes, [], 'not final yet');

  for (const answer of [{ status: 500 }, { status: 503 }, Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })]) {
    const { result, outcomes, stillThere } = await deliver([answer]);
    assert.ok(result instanceof RetryLater, JSON.stringify(answer));
    assert.equal(result.delayMs, undefined);
    assert.deepEqual(outcomes, []);
    assert.ok(stillThere);
  }
  const first = retryDelay(1, new RetryLater('500'));
  assert.ok(first >= 500 && first <= 1000, `first backoff ${first} ms`);
  assert.ok(retryDelay(30, new RetryLater('500')) <= 300_000, 'backoff is capped');
});

test('413 is sent again with preview none; another 4xx drops the push', async () => {
  const resent = await deliver([{ status: 413 }, { status: 201 }]);
  assert.deepEqual(resent.outcomes, ['sent']);
  assert.equal(resent.sent.length, 2);
  assert.match(JSON.stringify(resent.sent[0]!.payload), /Hello/);
  assert.doesNotMatch(JSON.stringify(resent.sent[1]!.payload), /Hello|ann@example/, 'the resend shows neither subject nor sender');

  for (const status of [400, 403]) {
    const { result, outcomes, stillThere } = await deliver([{ status }]);
    assert.equal(result, undefined);
    assert.deepEqual(outcomes, ['dropped'], String(status));
    assert.ok(stillThere, 'kept: the next mail may go through');
  }
});

test('an endpoint that turned private is dropped at send time, counted once and not retried', async () => {
  const real = new PushSender(senderOptions);
  const { result, outcomes } = await deliver([], await subscription('https://127.0.0.1/push/x'), real);
  assert.equal(result, undefined, 'nothing thrown: no retry and no second count as failed');
  assert.deepEqual(outcomes, ['dropped']);
  real.close();
});

test('a subscription deleted before a retry gets nothing', async () => {
  const sub = await subscription();
  await adapters.pushSubscriptions.delete(sub.userId, sub.id);
  const scripted = new AnsweringSender([{ status: 201 }]);
  const outcomes: PushOutcome[] = [];
  await deliverPush({ userId: sub.userId, subscriptionId: sub.id, event: mail }, { sender: scripted, subscriptions: adapters.pushSubscriptions, log: pino({ level: 'silent' }), onOutcome: (o) => outcomes.push(o) }, 2);
  assert.deepEqual(scripted.messages, []);
  assert.deepEqual(outcomes, []);
});
