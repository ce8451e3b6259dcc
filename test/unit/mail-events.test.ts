import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchEvent, NewMailCollector, newMailEvents, senderOf, uidSpanOf } from '../../src/core/mail-events.js';
import { HostLimiter } from '../../src/imap/host-limiter.js';
import { backoffDelay } from '../../src/core/backoff.js';

const ctx = { accountId: 'acc_1', mailbox: 'INBOX', uidValidity: '7', unseen: 3, catchUp: false, batchSize: 3, now: new Date('2026-01-01T00:00:00Z') };
const message = (uid: number) => ({ uid, messageId: `<${uid}@x>`, from: { name: 'A', address: 'a@x' }, subject: `s${uid}`, date: null, snippet: 'Hello' });

test('one mail.new per message, in UID order', () => {
  const events = newMailEvents([message(5), message(4)], ctx);
  assert.deepEqual(events.map((e) => [e.type, (e.data as { uid: number }).uid]), [['mail.new', 4], ['mail.new', 5]]);
  assert.deepEqual(events[0]!.data, { uid: 4, uidValidity: '7', messageId: '<4@x>', from: { name: 'A', address: 'a@x' }, subject: 's4', date: null, snippet: 'Hello', unseen: 3, catchUp: false });
});

test('a burst above the batch size becomes one mail.batch', () => {
  const events = newMailEvents([1, 2, 3, 4].map(message), { ...ctx, catchUp: true });
  assert.equal(events.length, 1);
  assert.deepEqual(events[0], { type: 'mail.batch', accountId: 'acc_1', mailbox: 'INBOX', time: '2026-01-01T00:00:00.000Z', data: { count: 4, firstUid: 1, lastUid: 4, unseen: 3, catchUp: true } });
  assert.deepEqual(newMailEvents([], ctx), []);
});

test('the sender is the first From address, trimmed', () => {
  assert.deepEqual(senderOf([{ name: ' Ann ', address: 'ann@x' }, { address: 'b@x' }]), { name: 'Ann', address: 'ann@x' });
  assert.deepEqual(senderOf(undefined), { name: '', address: '' });
});

test('the host limiter never runs more than its limit per host', async () => {
  const limiter = new HostLimiter(2);
  let running = 0;
  let peak = 0;
  const task = async () => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, 5));
    running--;
  };
  await Promise.all([...Array(10)].map(() => limiter.run('imap.example', task)).concat([limiter.run('other', task)]));
  assert.equal(peak, 3, 'two for one host plus one for the other');
  assert.equal(limiter.inFlight('imap.example'), 0);
});

test('backoff grows, is capped and jittered', () => {
  for (let attempt = 0; attempt < 40; attempt++) {
    const delay = backoffDelay(attempt, 1000, 300_000);
    const ceiling = Math.min(300_000, 1000 * 2 ** attempt);
    assert.ok(delay >= ceiling / 2 && delay <= ceiling, `${attempt}: ${delay}`);
  }
});

test('a mailbox import of 200,000 UIDs becomes one mail.batch with its count and bounds, in constant memory', () => {
  const uids = Array.from({ length: 200_000 }, (_, i) => 1_000_000 - i * 3); // descending, past the spread limit
  const span = uidSpanOf(uids)!;
  assert.deepEqual(span, { count: 200_000, first: 1_000_000 - 199_999 * 3, last: 1_000_000 });
  assert.deepEqual(batchEvent(span, ctx).data, { count: 200_000, firstUid: 400_003, lastUid: 1_000_000, unseen: 3, catchUp: false });
  assert.equal(uidSpanOf([]), undefined);

  const collector = new NewMailCollector<{ uid: number }>(25);
  let most = 0;
  for (const uid of uids) {
    collector.add({ uid });
    most = Math.max(most, collector.messages()?.length ?? 0);
  }
  assert.equal(collector.messages(), undefined, 'past the limit only the span is kept');
  assert.equal(most, 25, 'never more than the batch size held');
  assert.deepEqual(collector.spanOf(), span);

  const few = new NewMailCollector<{ uid: number }>(25);
  [7, 5, 9].forEach((uid) => few.add({ uid }));
  assert.deepEqual(few.messages()!.map((m) => m.uid), [7, 5, 9]);
});
