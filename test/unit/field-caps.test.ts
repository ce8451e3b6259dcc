import { test } from 'node:test';
import assert from 'node:assert/strict';
import { capFlags, capText, FIELD_CAPS, jsonTextBytes, MAX_EVENT_BYTES, MAX_FLAGS } from '../../src/core/field-caps.js';
import { expungedData, MAX_EXPUNGED_UIDS, newMailEvents } from '../../src/core/mail-events.js';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const utf8 = (text: string) => Buffer.byteLength(text, 'utf8');

test('a text that fits is kept as it is, one byte more is cut with "…"', () => {
  assert.equal(capText('short', 16), 'short');
  const exact = 'a'.repeat(1024);
  assert.equal(capText(exact, 1024), exact);
  const over = capText(`${exact}b`, 1024);
  assert.equal(over, `${'a'.repeat(1021)}…`);
  assert.equal(utf8(over), 1024);
});

test('multi-byte characters at the boundary are kept whole or left out, never split', () => {
  // Each prefix length moves the boundary through a 2-, 3- and 4-byte character.
  for (const char of ['é', '€', '😀']) {
    for (let prefix = 0; prefix < 8; prefix++) {
      const text = 'x'.repeat(prefix) + char.repeat(1000);
      const capped = capText(text, FIELD_CAPS.subject);
      assert.ok(utf8(capped) <= FIELD_CAPS.subject, `${char} after ${prefix}: ${utf8(capped)} bytes`);
      assert.ok(utf8(capped) > FIELD_CAPS.subject - 3 - utf8(char), `${char} after ${prefix}: as much as fits is kept`);
      assert.ok(capped.endsWith('…'));
      assert.ok(text.startsWith(capped.slice(0, -1)), 'a start of the text');
      assert.doesNotMatch(capped, LONE_SURROGATE, 'no surrogate pair is split');
      assert.equal(Buffer.from(capped, 'utf8').toString('utf8'), capped, 'valid UTF-8 round trip');
    }
  }
});

test('sizes count what the text takes in JSON: quotes, backslashes and control characters are escaped', () => {
  for (const text of ['"'.repeat(600), '\\'.repeat(600), '\u0001'.repeat(300), '\n'.repeat(600), '\uD800'.repeat(300)]) {
    const capped = capText(text, FIELD_CAPS.name);
    assert.equal(jsonTextBytes(capped), utf8(JSON.stringify(capped)) - 2);
    assert.ok(utf8(JSON.stringify(capped)) - 2 <= FIELD_CAPS.name, JSON.stringify(text.slice(0, 2)));
  }
});

test('a mail.new built from hostile fields stays within 8 KiB, and each field is cut at its cap', () => {
  const huge = `Grüße 🎉 "quoted" \u0007 ${'🚀é'.repeat(700_000)}`; // over 2 MB
  const [event] = newMailEvents([{
    uid: 4294967295, messageId: `<${huge}>`, from: { name: huge, address: huge }, subject: huge, date: new Date(0).toISOString(), snippet: huge,
  }], { accountId: 'acc_0123456789abcdef0123456789abcdef', mailbox: '"'.repeat(255), uidValidity: '4294967295', unseen: 4294967295, catchUp: true, batchSize: 10, now: new Date() });
  const data = event!.data as { subject: string; from: { name: string; address: string }; messageId: string; snippet: string };
  const withId = JSON.stringify({ id: '18446744073709551615-18446744073709551615', ...event });
  assert.ok(utf8(withId) <= MAX_EVENT_BYTES, `${utf8(withId)} bytes`);
  assert.ok(jsonTextBytes(data.subject) <= FIELD_CAPS.subject && jsonTextBytes(data.subject) > FIELD_CAPS.subject - 8);
  assert.ok(jsonTextBytes(data.from.name) <= FIELD_CAPS.name && jsonTextBytes(data.from.address) <= FIELD_CAPS.address);
  assert.ok(jsonTextBytes(data.messageId) <= FIELD_CAPS.messageId && jsonTextBytes(data.snippet) <= FIELD_CAPS.snippet);
  assert.ok(data.subject.startsWith('Grüße 🎉 "quoted"') && data.subject.endsWith('…'));
});

test('mail.expunged names at most 512 UIDs per event, in order; a bulk delete past 2,048 names none', () => {
  assert.deepEqual(expungedData([], 3), [{ unseen: 3 }]);
  assert.deepEqual(expungedData([9, 2], 3), [{ uids: [2, 9], unseen: 3 }]);
  const many = Array.from({ length: 1300 }, (_, i) => 4294967295 - i);
  const chunks = expungedData(many, 0);
  assert.deepEqual(chunks.map((c) => c.uids!.length), [512, 512, 276]);
  assert.deepEqual(chunks.flatMap((c) => c.uids), [...many].sort((a, b) => a - b));
  for (const chunk of chunks) {
    const event = { id: '18446744073709551615-18446744073709551615', type: 'mail.expunged', accountId: 'acc_0123456789abcdef0123456789abcdef', mailbox: '"'.repeat(255), time: new Date().toISOString(), data: chunk };
    assert.ok(utf8(JSON.stringify(event)) <= MAX_EVENT_BYTES);
  }
  assert.deepEqual(expungedData(Array.from({ length: MAX_EXPUNGED_UIDS + 1 }, (_, i) => i + 1), 5), [{ unseen: 5 }]);
  assert.equal(expungedData(Array.from({ length: MAX_EXPUNGED_UIDS }, (_, i) => i + 1), 5).length, 4);
});

test('mail.flags keeps system flags first and at most 32 flags, leaving out over-long ones', () => {
  assert.deepEqual(capFlags(['\\Seen', '$Label1']), ['\\Seen', '$Label1']);
  const keywords = Array.from({ length: 1000 }, (_, i) => `$k${i}`);
  const capped = capFlags([...keywords, '\\Flagged', '\\Seen', `$${'x'.repeat(100)}`]);
  assert.equal(capped.length, MAX_FLAGS);
  assert.ok(capped.includes('\\Flagged') && capped.includes('\\Seen'));
  assert.deepEqual(capFlags([`$${'x'.repeat(100)}`, '\\Seen']), ['\\Seen']);
});
