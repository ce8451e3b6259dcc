import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitPayload, pushFor, truncateUtf8, MAX_PAYLOAD_BYTES } from '../../src/push/payload.js';
import { VapidSigner, generateVapidKeys } from '../../src/push/vapid.js';
import { topicFor } from '../../src/push/sender.js';
import type { MailEvent } from '../../src/core/types.js';

test('truncation never splits a UTF-8 character, emoji included', () => {
  const text = 'aé日😀'.repeat(50);
  for (let max = 1; max < 120; max++) {
    const cut = truncateUtf8(text, max);
    assert.ok(Buffer.byteLength(cut) <= max, `${max}`);
    assert.equal(Buffer.from(cut).toString('utf8'), cut, 'valid UTF-8 round trip');
    assert.ok(!/[\uD800-\uDBFF]$/.test(cut.replace(/…$/, '')), 'no lone high surrogate');
  }
  assert.equal(truncateUtf8('short', 100), 'short');
});

test('payloads are fitted under the record limit, body first', () => {
  const fitted = fitPayload({ v: 1, type: 'mail.new', title: 'T'.repeat(1000), body: '😀'.repeat(5000) });
  assert.ok(Buffer.byteLength(JSON.stringify(fitted)) <= MAX_PAYLOAD_BYTES);
  assert.ok(Buffer.byteLength(fitted.title!) <= 256);
  assert.ok(fitted.body!.length > 100, 'the body keeps what fits');
});

const event = (type: string, data: object): MailEvent => ({ id: '1-0', type, accountId: 'acc_1', mailbox: 'INBOX', time: 't', data } as unknown as MailEvent);

test('what each event pushes, per preview level', () => {
  const mail = event('mail.new', { uid: 7, uidValidity: '1', messageId: null, from: { name: '', address: 'x@y' }, subject: 'Hi', date: null, unseen: 3, catchUp: false });
  assert.deepEqual([pushFor(mail, 'none')!.payload.title, pushFor(mail, 'none')!.payload.body], ['New mail', '3 unread']);
  assert.deepEqual([pushFor(mail, 'sender')!.payload.title, pushFor(mail, 'sender')!.payload.body], ['x@y', 'New message']);
  assert.deepEqual([pushFor(mail, 'full')!.payload.title, pushFor(mail, 'full')!.payload.body], ['x@y', 'Hi']);
  assert.equal(pushFor(mail, 'full')!.urgency, 'high');
  assert.equal(pushFor(event('mail.flags', { uid: 7, seen: false, flags: [], unseen: 3 }), 'full'), undefined, 'marked unread: nothing to dismiss');
  const dismiss = pushFor(event('mail.expunged', { uids: [7, 8], unseen: 1 }), 'full')!;
  assert.deepEqual(dismiss.payload.tags, ['acc_1:INBOX:7', 'acc_1:INBOX:8']);
  assert.equal(dismiss.urgency, 'low');
  assert.equal(pushFor(event('account.state', { state: 'idle' }), 'full'), undefined);
  assert.equal(pushFor(event('account.state', { state: 'auth_failed' }), 'full'), undefined);
  // An OAuth mailbox whose provider refused the refresh is no longer watched: its person must know.
  const reauth = pushFor(event('account.state', { state: 'reauth_required', error: 'sign in again' }), 'none')!;
  assert.deepEqual([reauth.payload.type, reauth.payload.tag, reauth.payload.title], ['reauth', 'acc_1::reauth', 'Sign in again to keep getting mail']);
});

test('the VAPID JWT is signed once per origin and reused until close to expiry', () => {
  const keys = { ...generateVapidKeys(), subject: 'mailto:a@example.test' };
  let now = Date.now();
  const signer = new VapidSigner(keys, () => now);
  const first = signer.authorization('https://push.example');
  assert.equal(signer.authorization('https://push.example'), first);
  assert.notEqual(signer.authorization('https://other.example'), first);
  now += 11.5 * 3600 * 1000; // within the last hour of the 12 h lifetime
  assert.notEqual(signer.authorization('https://push.example'), first);
  assert.match(topicFor('acc_1'), /^[A-Za-z0-9_-]{32}$/);
});
