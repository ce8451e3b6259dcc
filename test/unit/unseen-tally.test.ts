import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UnseenTally } from '../../src/core/unseen-tally.js';

test('without a STATUS to start from there is no count', () => {
  const tally = new UnseenTally();
  assert.equal(tally.add([{ uid: 1, seen: false }]), undefined);
  assert.equal(tally.count, undefined);
});

test('new mail above the STATUS adds itself when unread, not when it arrived already read', () => {
  const tally = new UnseenTally();
  tally.reset(3, 10); // 3 unread among UIDs 1..9
  assert.equal(tally.add([{ uid: 10, seen: false }]), 4);
  assert.equal(tally.add([{ uid: 11, seen: true }, { uid: 12, seen: false }]), 5);
  assert.equal(tally.count, 5);
});

test('mail the STATUS already counted is not counted again', () => {
  const tally = new UnseenTally();
  // STATUS ran after UID 10 was delivered but before this connection fetched it.
  tally.reset(4, 11);
  assert.equal(tally.add([{ uid: 10, seen: false }]), 4);
  assert.equal(tally.add([{ uid: 11, seen: false }]), 5);
  // A fetch that returns an old UID again ("n:*" does when nothing is above n) changes nothing.
  assert.equal(tally.add([{ uid: 11, seen: false }]), 5);
});

test('forget, or a STATUS without UIDNEXT, means asking again', () => {
  const tally = new UnseenTally();
  tally.reset(2, 5);
  tally.forget();
  assert.equal(tally.add([{ uid: 5, seen: false }]), undefined);
  tally.reset(2, undefined);
  assert.equal(tally.add([{ uid: 5, seen: false }]), undefined);
});
