import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalEventId, compareEventIds, isEventId } from '../../src/protocol/event-ids.js';

const sign = (n: number) => Math.sign(n);

test('event ids compare in log order: milliseconds first, then the sequence, as numbers', () => {
  const ordered = ['0-0', '0-1', '0-9', '0-10', '9-0', '10-0', '1732800000000-0', '1732800000000-2', '1732800000000-10', '1732800000001-0'];
  for (let i = 0; i < ordered.length; i++) {
    for (let j = 0; j < ordered.length; j++) {
      assert.equal(sign(compareEventIds(ordered[i]!, ordered[j]!)), sign(i - j), `${ordered[i]} vs ${ordered[j]}`);
    }
  }
  // Past 2^53, where Number() would round both to the same value.
  assert.ok(compareEventIds('18446744073709551615-0', '18446744073709551614-0') > 0);
  assert.ok(compareEventIds('1-18446744073709551615', '1-18446744073709551614') > 0);
});

test('a client\'s since with leading zeros means the same id', () => {
  assert.equal(canonicalEventId('007-0010'), '7-10');
  assert.equal(canonicalEventId('0-0'), '0-0');
  assert.equal(canonicalEventId('000-000'), '0-0');
  assert.equal(compareEventIds(canonicalEventId('0001732800000000-01'), '1732800000000-1'), 0);
});

test('an event id has two sides of at most 2^64-1, leading zeros allowed', () => {
  for (const id of ['0-0', '1732800000000-3', '18446744073709551615-18446744073709551615', '00000000000000000001-7', '09999999999999999999-0']) {
    assert.equal(isEventId(id), true, id);
  }
  for (const id of ['99999999999999999999-0', '18446744073709551616-0', '0-18446744073709551616', 'banana', '1-', '-1', '1-2-3', '']) {
    assert.equal(isEventId(id), false, id);
  }
});
