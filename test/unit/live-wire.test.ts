// The live wire format's TypeScript halves (src/adapters/redis/live-wire.ts). The Lua half runs in a
// real Redis in test/integration/live-wire.test.ts and must build the same bytes as liveMessage.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { liveEventArgs, liveHeader, liveMessage, parseLiveMessage } from '../../src/adapters/redis/live-wire.js';
import type { MailEvent, NewEvent } from '../../src/core/types.js';

const mail = (catchUp: boolean): NewEvent => ({
  type: 'mail.new', accountId: 'acc_1', mailbox: 'Ünïcode\nbox', time: '2026-11-29T03:00:00.123Z',
  data: { uid: 4, uidValidity: '7', messageId: null, from: { name: 'Zoë', address: 'z@example.test' }, subject: 'línea\nnueva 🎉', date: null, snippet: null, unseen: 2, catchUp },
});

/** What the append script publishes for `event` under `id`. */
function published(event: NewEvent, id: string): Buffer {
  const [header, fields] = liveEventArgs(event);
  return Buffer.from(liveMessage(header, id, fields));
}

test('the wire bytes are exactly "<type> <time ms> <catch-up> <id>\\n" and the JSON with the id first', () => {
  const event: NewEvent<'mailbox.reset'> = { type: 'mailbox.reset', accountId: 'acc_1', mailbox: 'INBOX', time: '2026-11-29T03:00:00.123Z', data: { uidValidity: '9' } };
  assert.equal(liveHeader(event), 'mailbox.reset 1795921200123 0');
  assert.deepEqual(liveEventArgs(event), ['mailbox.reset 1795921200123 0', JSON.stringify(event)]);
  assert.equal(
    published(event, '1795921200200-7').toString(),
    'mailbox.reset 1795921200123 0 1795921200200-7\n{"id":"1795921200200-7","type":"mailbox.reset","accountId":"acc_1","mailbox":"INBOX","time":"2026-11-29T03:00:00.123Z","data":{"uidValidity":"9"}}',
  );
  assert.equal(liveHeader(mail(true)), 'mail.new 1795921200123 1');
});

test('a published event gives its id, type, time and catch-up flag, and its JSON byte for byte', () => {
  for (const catchUp of [false, true]) {
    const event = mail(catchUp);
    const parsed = parseLiveMessage(published(event, '1795919663298-3'))!;
    assert.deepEqual([parsed.id, parsed.type, parsed.time, parsed.catchUp], ['1795919663298-3', 'mail.new', Date.parse(event.time), catchUp]);
    assert.deepEqual(Buffer.from(parsed.json), Buffer.from(JSON.stringify({ id: '1795919663298-3', ...event })));
  }
});

test('its JSON does not share memory with the message it came in', () => {
  const message = published(mail(false), '1-0');
  const parsed = parseLiveMessage(message)!;
  const before = Buffer.from(parsed.json).toString();
  message.fill(0);
  assert.equal(Buffer.from(parsed.json).toString(), before);
});

test('bare JSON from a worker of an earlier version is still understood; anything else is dropped', () => {
  const event: MailEvent = { id: '5-0', ...mail(false) };
  const parsed = parseLiveMessage(Buffer.from(JSON.stringify(event)))!;
  assert.deepEqual([parsed.id, parsed.type, parsed.time, parsed.catchUp], ['5-0', 'mail.new', Date.parse(event.time), false]);
  assert.deepEqual(JSON.parse(String(parsed.json)), event);
  for (const junk of ['', 'hello', '{not json', '{"id":5}', 'mail.new 1\n{}']) assert.equal(parseLiveMessage(Buffer.from(junk)), undefined, junk);
});
